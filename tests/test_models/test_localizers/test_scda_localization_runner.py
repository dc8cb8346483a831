# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""End to end: a tiny localizer through a real Runner.test() and the CLI."""
import importlib.util
import os
import os.path as osp

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.runner import Runner
from PIL import Image

import mmtobias  # noqa: F401
from mmtobias.testing import shrink_config

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))
XML = ('<annotation><filename>{n}.jpg</filename><size><width>64</width>'
       '<height>48</height></size><object><name>blob</name><bndbox>'
       '<xmin>{b[0]}</xmin><ymin>{b[1]}</ymin><xmax>{b[2]}</xmax>'
       '<ymax>{b[3]}</ymax></bndbox></object></annotation>')


@pytest.fixture
def blob_folder(tmp_path):
    """3 images: a textured square on a flat background, VOC XML boxes; the
    third file is truncated."""
    rng = np.random.RandomState(0)
    os.makedirs(tmp_path / 'images')
    os.makedirs(tmp_path / 'annots')
    for i, (x, y) in enumerate([(8, 8), (30, 10), (20, 20)]):
        img = np.full((48, 64, 3), 90, np.uint8)
        img[y:y + 24, x:x + 24] = rng.randint(0, 255, (24, 24, 3))
        path = str(tmp_path / 'images' / f'{i}.jpg')
        Image.fromarray(img).save(path, quality=95)
        with open(tmp_path / 'annots' / f'{i}.xml', 'w') as f:
            f.write(XML.format(n=i, b=(x + 1, y + 1, x + 24, y + 24)))
    data = open(path, 'rb').read()
    with open(path, 'wb') as f:
        f.write(data[:len(data) // 2])
    return str(tmp_path)


def tiny_cfg(root, work_dir):
    cfg = shrink_config(
        Config.fromfile(osp.join(REPO, 'configs', 'scda_localization',
                                 'scda_r50_kaiming_kangaroo.py')),
        data_root=root, stage_blocks=(1, 1, 1, 1), work_dir=work_dir)
    cfg.model.seeds = [0, 1]
    cfg.log_level = 'WARNING'
    return cfg


@pytest.mark.slow
def test_runner_test_reports_corloc_and_writes_overlays(blob_folder, tmp_path, work_dir):
    cfg = tiny_cfg(blob_folder, work_dir)
    cfg.test_evaluator.update(vis_dir=str(tmp_path / 'vis'), num_vis=2,
                              invalid='miss')
    metrics = Runner.from_cfg(cfg).test()
    assert metrics['scda/num_images'] == 3
    assert metrics['scda/num_invalid'] == 1
    assert metrics['scda/num_seeds'] == 2
    # the truncated image is a forced miss: at most 2 of 3 hits per seed
    assert 0 <= metrics['scda/corloc'] <= 100 * 2 / 3 + 1e-6
    assert 0 <= metrics['scda/whole_image'] <= 100
    assert sorted(os.listdir(tmp_path / 'vis')) == ['0.png', '1.png']


@pytest.mark.slow
def test_cli_last_line(blob_folder, tmp_path, monkeypatch, capsys):
    spec = importlib.util.spec_from_file_location(
        'eval_localization', osp.join(REPO, 'tools', 'eval_localization.py'))
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    monkeypatch.setattr('sys.argv', [
        'eval_localization.py', '--images', f'{blob_folder}/images',
        '--annotations', f'{blob_folder}/annots', '--seeds', '2',
        '--workers', '0', '--work-dir', str(tmp_path / 'w'),
        '--cfg-options', 'model.backbone.depth=18',
        'model.backbone.stage_blocks=(1,1,1,1)'
    ])
    cli.main()
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith('corloc=') and '±' in last
    assert 'whole_image=' in last and 'images=3 invalid=1 seeds=2' in last
    with pytest.raises(FileNotFoundError, match='--images'):
        monkeypatch.setattr('sys.argv', [
            'x', '--images', 'nope', '--annotations', blob_folder])
        cli.main()
