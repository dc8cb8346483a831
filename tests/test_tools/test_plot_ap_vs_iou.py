# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
import importlib.util
import json
import os.path as osp

import pytest
from PIL import Image

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
_spec = importlib.util.spec_from_file_location(
    'plot_ap_vs_iou', osp.join(ROOT, 'tools', 'analysis_tools', 'plot_ap_vs_iou.py'))
plot_tool = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(plot_tool)


def _run(tmp_path, name, scale):
    d = tmp_path / name
    d.mkdir()
    curve = {str(t / 10): scale * (1 - t / 10) for t in range(1, 10)}
    (d / 'det_results.json').write_text(json.dumps(dict(ap_vs_iou=curve)))
    return str(d)


def test_plot_writes_a_png_comparing_runs(tmp_path):
    runs = [_run(tmp_path, 'random', 0.5), _run(tmp_path, 'tobias', 0.8)]
    out = str(tmp_path / 'curve.png')
    plot_tool.main([*runs, '--labels', 'random init', 'Tobias', '--out', out])
    with Image.open(out) as img:
        assert img.format == 'PNG' and img.width > 300
    ious, maps = plot_tool.load_curve(runs[1])
    assert ious[0] == 0.1 and maps[0] == pytest.approx(72.)


def test_missing_run_and_missing_curve_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match='nowhere'):
        plot_tool.load_curve(str(tmp_path / 'nowhere'))
    (tmp_path / 'r.json').write_text('{}')
    with pytest.raises(ValueError, match='no AP-vs-IoU curve'):
        plot_tool.load_curve(str(tmp_path / 'r.json'))
