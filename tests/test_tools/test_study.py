# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
import json
import os.path as osp
import sys

import pytest
from mmengine.config import Config

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(REPO, 'tools', 'benchmarks'))
import study  # noqa: E402
import study_report  # noqa: E402


def _dicts(obj):
    if isinstance(obj, dict):
        yield obj
        for v in obj.values():
            yield from _dicts(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from _dicts(v)


@pytest.mark.parametrize('method', [m for m, s in study.METHODS.items() if s['config']])
def test_derived_config_is_the_method_at_study_scale(tmp_path, method):
    out = str(tmp_path / 'cfg.py')
    study.derive_pretrain_config(method, 'small', 3, '/data/x', '/m/train.tmask', out)
    cfg = Config.fromfile(out)
    assert cfg.model.backbone.depth == 18 and cfg.model.neck.in_channels == 512
    assert cfg.train_dataloader.dataset.data_root == '/data/x'
    assert cfg.randomness.seed == 3
    assert cfg.train_cfg.max_epochs == study.BUDGETS['small']['epochs']
    size = study.BUDGETS['small']['size']
    crops = [d for d in _dicts(cfg.train_dataloader) if d.get('type') == 'RandomResizedCrop']
    composites = [d for d in _dicts(cfg.train_dataloader) if d.get('type') == 'InsLocComposite']
    if method.startswith('insloc'):
        # composites at the study's size, paste sizes scaled from (128, 255) at 256 px
        assert composites and not crops
        assert all(d['bg_size'] == size and d['paste_size_range'] == (48, 96)
                   for d in composites)
    else:
        assert crops and all(d['scale'] == size for d in crops)
    masks = [d['mask_file'] for d in _dicts(cfg._cfg_dict.to_dict()) if 'mask_file' in d]
    assert all(m == '/m/train.tmask' for m in masks)
    swaps = [d for d in _dicts(cfg.train_dataloader) if d.get('type') == 'BackgroundSwap']
    if 'swap_prob' in study.METHODS[method]:
        assert swaps and all(d['prob'] == study.METHODS[method]['swap_prob'] for d in swaps)


def test_report_aggregates_seeds_with_spread(tmp_path):
    rows = tmp_path / 'rows'
    rows.mkdir()
    for seed, (knn, ap) in enumerate([(40.0, 10.0), (44.0, 14.0)]):
        row = dict(method='mocov2', seed=seed, pretrain_seconds=600,
                   probes=dict(knn_top1=knn, linear_top1=knn + 5),
                   detection=dict(AP50=ap, AP=ap / 2, AP75=ap / 4,
                                  ap_vs_iou={'0.1': ap + 5, '0.5': ap}))
        (rows / f'mocov2_seed{seed}.json').write_text(json.dumps(row))
    (rows / 'random_init_seed0.json').write_text(json.dumps(
        dict(method='random_init', seed=0, probes=dict(knn_top1=20.0))))
    study_report.write_report(str(tmp_path))
    table = (tmp_path / 'results.md').read_text()
    assert '| mocov2 | 0,1 | 42.0 ± 2.0 | 47.0 ± 2.0 | — | 12.0 ± 2.0 |' in table
    assert '| random_init | 0 | 20.0 (n=1) |' in table
    # baselines first, whatever the file order; every run listed with its own numbers
    assert table.index('| random_init | 0 |') < table.index('| mocov2 | 0,1 |')
    assert '| mocov2 | 1 | 44.0 | 49.0 | — | 14.0 | 7.0 | 3.5 | 10 | — |' in table
    assert (tmp_path / 'ap_vs_iou.png').stat().st_size > 0
    assert (tmp_path / 'linear_accuracy.png').stat().st_size > 0
