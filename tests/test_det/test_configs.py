# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""Every detection-transfer config loads and builds its (R50) detector."""
import glob
import os.path as osp

import pytest
from mmdet.registry import MODELS
from mmengine.config import Config

import mmtobias  # noqa: F401

CFG_DIR = osp.join(osp.dirname(__file__), '..', '..', 'configs', 'benchmarks', 'mmdetection')
CONFIGS = sorted(p for p in glob.glob(osp.join(CFG_DIR, '*', '*.py')) if '_base_' not in p)


def test_all_promised_configs_exist():
    names = {osp.relpath(p, CFG_DIR) for p in CONFIGS}
    assert names == {
        'voc0712/faster-rcnn_r50-c4_ms-24k_voc0712.py',
        'voc0712/faster-rcnn_r50_fpn_ms-24k_voc0712.py',
        'coco/mask-rcnn_r50-c4_ms-1x_coco.py', 'coco/mask-rcnn_r50-c4_ms-2x_coco.py',
        'coco/mask-rcnn_r50_fpn_ms-1x_coco.py', 'coco/mask-rcnn_r50_fpn_ms-2x_coco.py',
        'voc-layout/faster-rcnn_r50-c4_custom.py', 'voc-layout/faster-rcnn_r50_fpn_custom.py'
    }


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: osp.basename(p))
def test_config_loads_and_builds(path):
    cfg = Config.fromfile(path)
    assert cfg.custom_imports == dict(imports=['mmtobias', 'mmtobias.det'],
                                      allow_failed_imports=False)
    assert cfg.model.backbone.norm_cfg.type == 'SyncBN' and cfg.model.backbone.init_cfg is None
    assert cfg.train_cfg.type == 'IterBasedTrainLoop' and cfg.optim_wrapper.optimizer.lr == 0.02
    model = MODELS.build(cfg.model)
    if 'c4' in osp.basename(path):
        head = model.roi_head.shared_head
        assert type(head).__name__ == 'SharedResLayerExtraNorm'
        assert head.norm.num_features == 2048 and not head.norm_eval
    else:
        assert model.neck.lateral_convs[0].norm_cfg['type'] == 'SyncBN'
        assert len(model.roi_head.bbox_head.shared_convs) == 4


def test_voc_protocol_values():
    cfg = Config.fromfile(osp.join(CFG_DIR, 'voc0712', 'faster-rcnn_r50-c4_ms-24k_voc0712.py'))
    assert cfg.train_cfg.max_iters == 24000
    assert cfg.param_scheduler[1].milestones == [18000, 22000]
    scales = cfg.train_dataloader.dataset.datasets[0].pipeline[2].scales
    assert min(s[1] for s in scales) == 480 and max(s[1] for s in scales) == 800
    assert cfg.test_dataloader.dataset.pipeline[1].scale == (1333, 800)
    assert cfg.test_evaluator == dict(type='VOCIoUSweepMetric', eval_mode='11points')
    assert cfg.model.roi_head.bbox_head.num_classes == 20


def test_coco_2x_is_twice_1x():
    one = Config.fromfile(osp.join(CFG_DIR, 'coco', 'mask-rcnn_r50_fpn_ms-1x_coco.py'))
    two = Config.fromfile(osp.join(CFG_DIR, 'coco', 'mask-rcnn_r50_fpn_ms-2x_coco.py'))
    assert (one.train_cfg.max_iters, two.train_cfg.max_iters) == (90000, 180000)
    assert two.param_scheduler[1].milestones == [120000, 160000]
    assert two.test_evaluator.type == 'CocoIoUSweepMetric'
