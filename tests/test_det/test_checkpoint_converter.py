# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""Key maps of every source format, checked by loading into real mmdet detectors."""
import os.path as osp

import pytest
import torch
import torchvision
from mmdet.registry import MODELS
from mmengine.config import Config
from mmpretrain.models import ResNet as MMPretrainResNet

import mmtobias  # noqa: F401
from mmtobias.det import (check_against_model, compare_loaded, convert_checkpoint,
                          convert_state_dict, detect_format)
from mmtobias.testing import shrink_config

CFG_DIR = osp.join(osp.dirname(__file__), '..', '..', 'configs', 'benchmarks', 'mmdetection',
                   'voc-layout')


def _tiny_detector_cfg(arch):
    """The custom-dataset config's model on ResNet-18, to keep the round trips fast."""
    name = 'faster-rcnn_r50-c4_custom.py' if arch == 'c4' else 'faster-rcnn_r50_fpn_custom.py'
    return shrink_config(Config.fromfile(osp.join(CFG_DIR, name))).model


def _randomised(module, seed):
    torch.manual_seed(seed)
    return {k: torch.randn_like(v, dtype=torch.float32).to(v.dtype) if v.is_floating_point()
            else v.clone() for k, v in module.state_dict().items()}


def _load_through_init_cfg(model_cfg, ckpt):
    model_cfg = model_cfg.copy()
    model_cfg.init_cfg = dict(type='Pretrained', checkpoint=ckpt)
    model = MODELS.build(model_cfg)
    model.init_weights()
    return model


@pytest.fixture(scope='module')
def resnet18_weights():
    return _randomised(MMPretrainResNet(depth=18), seed=0)


def _assert_backbone_loaded(model, weights, arch):
    state = model.state_dict()
    for k, v in weights.items():
        if k.endswith('num_batches_tracked'):
            continue
        target = (f'roi_head.shared_head.{k}'
                  if arch == 'c4' and k.startswith('layer4.') else f'backbone.{k}')
        assert torch.equal(state[target], v), target


@pytest.mark.parametrize('arch', ['c4', 'fpn'])
def test_openmmlab_moco_checkpoint_round_trip(tmp_path, resnet18_weights, arch):
    sd = {f'backbone.{k}': v for k, v in resnet18_weights.items()}
    sd.update({f'momentum_encoder.module.backbone.{k}': v + 1
               for k, v in resnet18_weights.items()})
    sd['neck.mlp.0.weight'] = torch.randn(8, 512)  # MoCo projection: not an FPN
    src, dst = str(tmp_path / 'moco.pth'), str(tmp_path / 'det.pth')
    torch.save(dict(state_dict=sd, meta=dict(epoch=200)), src)
    report = convert_checkpoint(src, dst, arch)
    assert report['format'] == 'openmmlab'
    assert report['dropped']['momentum_encoder.module'] == len(resnet18_weights)
    assert report['dropped']['neck.mlp'] == 1
    converted = torch.load(dst, weights_only=True)['state_dict']
    assert ('roi_head.shared_head.layer4.0.conv1.weight' in converted) == (arch == 'c4')
    assert ('backbone.layer4.0.conv1.weight' in converted) == (arch == 'fpn')
    model = _load_through_init_cfg(_tiny_detector_cfg(arch), dst)
    _assert_backbone_loaded(model, resnet18_weights, arch)
    missing, unexpected, mismatched = check_against_model(converted, model)
    assert not unexpected and not mismatched
    assert all(not k.startswith('backbone.') for k in missing)


@pytest.mark.parametrize('arch', ['c4', 'fpn'])
def test_pytorch_moco_release_round_trip(tmp_path, arch):
    tv = _randomised(torchvision.models.resnet18(num_classes=128), seed=1)
    sd = {f'module.encoder_q.{k}': v for k, v in tv.items()}
    sd.update({f'module.encoder_k.{k}': v for k, v in tv.items()})
    sd['module.queue'] = torch.randn(128, 16)
    src, dst = str(tmp_path / 'moco_v2_200ep_pretrain.pth.tar'), str(tmp_path / 'det.pth')
    torch.save(dict(epoch=200, arch='resnet50', state_dict=sd), src)
    report = convert_checkpoint(src, dst, arch)
    assert report['format'] == 'moco'
    assert report['dropped'] == {'module.encoder_k': len(tv), 'module.queue': 1,
                                 'module.encoder_q': 2}  # fc.weight, fc.bias
    model = _load_through_init_cfg(_tiny_detector_cfg(arch), dst)
    _assert_backbone_loaded(model, {k: v for k, v in tv.items() if not k.startswith('fc.')},
                            arch)


def test_insloc_fpn_checkpoint_fills_neck_head_convs_and_fc1(tmp_path, resnet18_weights):
    model_cfg = _tiny_detector_cfg('fpn')
    det = _randomised(MODELS.build(model_cfg), seed=2)
    sd = {f'backbone.{k}': v for k, v in resnet18_weights.items()}
    sd.update({k: v for k, v in det.items() if k.startswith('neck.')})
    for i in range(4):
        for name in ('conv.weight', 'bn.weight', 'bn.bias', 'bn.running_mean',
                     'bn.running_var'):
            sd[f'box_head.convs.{i}.{name}'] = det[f'roi_head.bbox_head.shared_convs.{i}.{name}']
    sd['box_head.fcs.0.weight'] = det['roi_head.bbox_head.shared_fcs.0.weight']
    sd['box_head.fcs.0.bias'] = det['roi_head.bbox_head.shared_fcs.0.bias']
    sd['box_head.fcs.1.weight'] = torch.randn(1024, 1024)  # pretext-only layers
    sd['box_head.fc_out.weight'] = torch.randn(128, 1024)
    sd.update({f'momentum_encoder.{k}': v for k, v in sd.items()})
    src, dst = str(tmp_path / 'insloc.pth'), str(tmp_path / 'det.pth')
    torch.save(dict(state_dict=sd), src)
    report = convert_checkpoint(src, dst, 'fpn')
    assert report['dropped']['box_head.fcs'] == 1 and report['dropped']['box_head.fc_out'] == 1
    model = _load_through_init_cfg(model_cfg, dst)
    state = model.state_dict()
    for k, v in det.items():
        if k.startswith(('neck.', 'roi_head.bbox_head.shared_')) and 'num_batches' not in k:
            assert torch.equal(state[k], v), k
    _assert_backbone_loaded(model, resnet18_weights, 'fpn')
    # for C4 the same file gives the backbone only
    c4, report = convert_state_dict(sd, 'c4')
    assert not any(k.startswith(('neck.', 'roi_head.bbox_head')) for k in c4)


def test_compare_loaded_counts_equal_tensors_and_names_the_others(tmp_path, resnet18_weights):
    src, dst = str(tmp_path / 'moco.pth'), str(tmp_path / 'det.pth')
    torch.save(dict(state_dict={f'backbone.{k}': v for k, v in resnet18_weights.items()}),
               src)
    convert_checkpoint(src, dst, 'c4')
    converted = torch.load(dst, weights_only=True)['state_dict']
    model = _load_through_init_cfg(_tiny_detector_cfg('c4'), dst)
    assert compare_loaded(converted, model) == dict(
        compared=len(converted), equal=len(converted), max_abs_diff=0.0, differ=[])
    with torch.no_grad():  # a later init of one layer
        model.roi_head.shared_head.layer4[0].conv1.weight.add_(0.5)
    report = compare_loaded(converted, model)
    assert report['differ'] == ['roi_head.shared_head.layer4.0.conv1.weight']
    assert report['equal'] == len(converted) - 1
    assert report['max_abs_diff'] == pytest.approx(0.5)


def test_bare_backbone_and_format_detection():
    sd = {'conv1.weight': torch.zeros(1), 'layer4.0.conv1.weight': torch.zeros(1)}
    assert detect_format(sd) == 'backbone'
    out, _ = convert_state_dict(sd, 'c4')
    assert set(out) == {'backbone.conv1.weight', 'roi_head.shared_head.layer4.0.conv1.weight'}


def test_errors_name_the_problem(tmp_path):
    with pytest.raises(ValueError, match='unrecognised checkpoint keys'):
        detect_format({'head.fc.weight': torch.zeros(1)})
    with pytest.raises(ValueError, match="arch='c5'"):
        convert_state_dict({'conv1.weight': torch.zeros(1)}, 'c5')
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        convert_checkpoint(str(tmp_path / 'missing.pth'), str(tmp_path / 'o.pth'), 'c4')
    bad = str(tmp_path / 'pickled.pth')
    torch.save(dict(state_dict={'conv1.weight': torch.zeros(1)}, obj=object), bad)
    with pytest.raises(ValueError, match='weights_only=True'):
        convert_checkpoint(bad, str(tmp_path / 'o.pth'), 'c4')
