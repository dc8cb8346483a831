# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""tools/det_train.py end to end on CPU: 2 iterations + test, C4 and FPN, own classes."""
import json
import os.path as osp

import pytest
import torch
from mmpretrain.models import ResNet as MMPretrainResNet

from mmtobias.testing import DET_R18_OPTIONS, DET_SMALL_OPTIONS, load_script, make_box_folder

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CFG = osp.join(ROOT, 'configs', 'benchmarks', 'mmdetection', 'voc-layout')

det_train = load_script(osp.join(ROOT, 'tools', 'det_train.py'))
pairs_to_voc = load_script(osp.join(ROOT, 'tools', 'dataset_converters', 'pairs_to_voc.py'))

# ResNet-18, tiny images, few proposals and RoIs: cheap on 2 busy cores (the R50 configs
# themselves are built in tests/test_det/test_configs.py)
R18_FPN = DET_R18_OPTIONS['fpn']
R18_C4 = DET_R18_OPTIONS['c4']
SMALL = DET_SMALL_OPTIONS


@pytest.fixture(scope='module')
def voc_dataset(tmp_path_factory):
    """6 images of coloured rectangles named 'red_square' / 'blue_bar', VOC layout."""
    tmp = tmp_path_factory.mktemp('det')
    src = make_box_folder(str(tmp / 'src'))
    out = tmp / 'voc'
    pairs_to_voc.convert(src, str(out), test_ratio=0.34, seed=0)
    return str(out)


def _run(args, capsys):
    metrics = det_train.main(args)
    lines = capsys.readouterr().out.strip().splitlines()
    return metrics, lines[-1]


def test_fpn_random_init_trains_two_iterations_and_tests(voc_dataset, tmp_path, capsys):
    work = str(tmp_path / 'fpn')
    metrics, last = _run([
        osp.join(CFG, 'faster-rcnn_r50_fpn_custom.py'), '--pretrained', 'none',
        '--data-root', voc_dataset, '--max-iters', '2', '--short-side', '64',
        '--work-dir', work, '--cfg-options', *SMALL, *R18_FPN, 'default_hooks.checkpoint=None'
    ], capsys)
    assert last.startswith('AP50=') and ' AP=' in last and ' AP75=' in last
    assert 'pascal_voc/AP10' in metrics and 'pascal_voc/AP90' in metrics
    with open(osp.join(work, 'det_results.json')) as f:
        result = json.load(f)
    assert result['max_iters'] == 2 and len(result['ap_vs_iou']) == 9


def test_c4_from_a_moco_checkpoint_with_classes_from_the_command_line(
        voc_dataset, tmp_path, capsys):
    torch.manual_seed(0)
    backbone = MMPretrainResNet(depth=18).state_dict()
    ckpt = str(tmp_path / 'mocov2.pth')
    torch.save(dict(state_dict={f'backbone.{k}': v for k, v in backbone.items()}), ckpt)
    work = str(tmp_path / 'c4')
    metrics, last = _run([
        osp.join(CFG, 'faster-rcnn_r50-c4_custom.py'), '--pretrained', ckpt,
        '--data-root', voc_dataset, '--classes', 'blue_bar', 'red_square',
        '--max-iters', '2', '--short-side', '64', '--work-dir', work, '--cfg-options', *SMALL,
        *R18_C4
    ], capsys)
    assert last.startswith('AP50=')
    assert osp.isfile(osp.join(work, 'pretrained_c4.pth'))
    # the detector started from the checkpoint: res5 (shared head) came from layer4 and
    # moved by 2 SGD steps at most a little
    trained = torch.load(osp.join(work, 'iter_2.pth'), weights_only=True)['state_dict']
    w0 = backbone['layer4.0.conv1.weight']
    w2 = trained['roi_head.shared_head.layer4.0.conv1.weight']
    assert torch.allclose(w0, w2, atol=1e-2) and not torch.equal(w0, w2)


def test_build_cfg_scales_schedule_and_rejects_bad_input(voc_dataset, tmp_path):
    args = det_train.parse_args([
        osp.join(CFG, 'faster-rcnn_r50_fpn_custom.py'), '--pretrained', 'none',
        '--data-root', voc_dataset, '--max-iters', '240', '--short-side', '400',
        '--work-dir', str(tmp_path)])
    cfg, report = det_train.build_cfg(args)
    assert report is None
    assert cfg.param_scheduler[1].milestones == [180, 220]  # 18k/22k of 24k
    assert cfg.param_scheduler[0].end == 24
    assert cfg.train_dataloader.dataset.metainfo.classes == ('blue_bar', 'red_square')
    assert cfg.model.roi_head.bbox_head.num_classes == 2
    assert cfg.test_dataloader.dataset.pipeline[1].scale == (666, 400)
    assert cfg.train_dataloader.dataset.pipeline[2].scales[0] == (666, 240)
    assert cfg.val_dataloader is None
    with pytest.raises(ValueError, match='not a directory'):
        det_train.build_cfg(det_train.parse_args([
            osp.join(CFG, 'faster-rcnn_r50_fpn_custom.py'), '--pretrained', 'none',
            '--data-root', str(tmp_path / 'missing')]))


def test_syncbn_becomes_bn_in_the_config_tree():
    tree = dict(a=dict(type='SyncBN'), b=[dict(norm_cfg=dict(type='SyncBN'))])
    det_train.syncbn_to_bn(tree)
    assert tree == dict(a=dict(type='BN'), b=[dict(norm_cfg=dict(type='BN'))])


def test_summary_line_reads_voc_and_coco_keys():
    assert det_train.summary_line({'pascal_voc/mAP': .5, 'pascal_voc/AP50': .8,
                                   'pascal_voc/AP75': .55}) == 'AP50=80.00 AP=50.00 AP75=55.00'
    assert det_train.summary_line({'coco/bbox_mAP': .4, 'coco/bbox_mAP_50': .6,
                                   'coco/bbox_mAP_75': .45}) == 'AP50=60.00 AP=40.00 AP75=45.00'
