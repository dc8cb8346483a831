# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
import pytest
import torch
import torch.nn as nn
from mmpretrain.registry import MODELS

import mmtobias  # noqa: F401
from mmtobias.models.backbones.ablation_utils import Arctan

X = torch.rand(1, 3, 64, 64)


def build(**kw):
    return MODELS.build(dict(type='SCDAResNet', **kw))


@pytest.mark.parametrize('kw, channels, size', [
    (dict(), 2048, 4),                               # layer4 stride 1: /16
    (dict(layer4_stride=2, stage_blocks=(1, 1, 1, 1)), 2048, 2),
    (dict(num_stages=1), 64, 32),                    # conv1, before maxpool
    (dict(num_stages=2), 256, 16),
    (dict(num_stages=3), 512, 8),
    (dict(num_stages=4, stage_blocks=(1, 1, 1, 1)), 1024, 4),
    (dict(depth=18, stage_blocks=(1, 1, 1, 1)), 512, 4),
    (dict(with_skip=False, stage_blocks=(1, 2, 3, 1)), 2048, 4),
    (dict(with_bn=False, stage_blocks=(1, 1, 1, 1)), 2048, 4),
])
def test_resnet_variants_build_and_run(kw, channels, size):
    net = build(**kw)
    out = net(X)
    assert isinstance(out, tuple) and out[0].shape == (1, channels, size,
                                                       size)
    assert not net.training
    assert not any(p.requires_grad for p in net.parameters())


def test_resnet_block_counts_and_ablation_structure():
    net = build(depth=18, stage_blocks=(6, 8, 12, 6))
    assert [len(getattr(net, f'layer{i}')) for i in range(1, 5)] == [6, 8,
                                                                     12, 6]
    nobn = build(with_bn=False, stage_blocks=(1, 1, 1, 1))
    assert not any(isinstance(m, nn.BatchNorm2d) for m in nobn.modules())
    noskip = build(with_skip=False, stage_blocks=(1, 1, 1, 1))
    assert all(b.downsample is None for b in noskip.layer1)
    trunc = build(num_stages=3)
    assert not hasattr(trunc, 'layer3') and hasattr(trunc, 'layer2')


@pytest.mark.parametrize('act, cls', [('sigmoid', nn.Sigmoid),
                                      ('arctan', Arctan), ('elu', nn.ELU),
                                      ('selu', nn.SELU),
                                      ('softplus', nn.Softplus)])
def test_activation_swap_removes_every_relu(act, cls):
    net = build(activation=act, stage_blocks=(1, 1, 1, 1))
    assert not any(isinstance(m, nn.ReLU) for m in net.modules())
    assert any(isinstance(m, cls) for m in net.modules())
    net(X)


def test_seed_and_init_schemes_are_reproducible():
    a = build(seed=3, stage_blocks=(1, 1, 1, 1))
    b = build(seed=3, stage_blocks=(1, 1, 1, 1))
    c = build(seed=4, stage_blocks=(1, 1, 1, 1))
    assert torch.equal(a.conv1.weight, b.conv1.weight)
    assert not torch.equal(a.conv1.weight, c.conv1.weight)
    uni = build(init='uniform', stage_blocks=(1, 1, 1, 1))
    assert uni.conv1.weight.abs().max() <= 0.1
    state = torch.get_rng_state()
    build(seed=5, stage_blocks=(1, 1, 1, 1))
    assert torch.equal(state, torch.get_rng_state())


def test_loads_mmpretrain_resnet_checkpoint(tmp_path):
    # keys of mmpretrain's own ResNet, as in a MoCo v2 checkpoint
    src = MODELS.build(dict(type='ResNet', depth=18))
    state = {f'backbone.{k}': v for k, v in src.state_dict().items()}
    state['neck.mlp.0.weight'] = torch.zeros(2)
    path = str(tmp_path / 'moco.pth')
    torch.save(dict(state_dict=state, meta=dict()), path)
    net = build(depth=18, checkpoint=path)
    assert torch.equal(net.layer4[0].conv1.weight,
                       src.layer4[0].conv1.weight)
    assert torch.equal(net.bn1.running_var, src.bn1.running_var)
    with pytest.raises(ValueError, match='checkpoint_prefix'):
        build(depth=18, checkpoint=path, checkpoint_prefix='encoder.')


def test_resnet_errors():
    with pytest.raises(ValueError, match="activation='gelu'"):
        build(activation='gelu')
    with pytest.raises(ValueError, match='stage_blocks'):
        build(stage_blocks=(1, 2))
    with pytest.raises(ValueError, match='layer4_stride=3'):
        build(layer4_stride=3)
    with pytest.raises(ValueError, match="init='he'"):
        build(init='he')


@pytest.mark.parametrize('arch, act, channels', [
    pytest.param('vgg11', 'sigmoid', 512, marks=pytest.mark.slow),  # seconds on a CPU
    ('alexnet', 'arctan', 256), ('inception_v3', 'relu', 2048)])
def test_torchvision_trunks(arch, act, channels):
    net = MODELS.build(dict(type='SCDATorchvisionNet', arch=arch,
                            activation=act))
    x = torch.rand(1, 3, 96 if arch != 'inception_v3' else 112, 96 if arch !=
                   'inception_v3' else 112)
    out = net(x)[0]
    assert out.dim() == 4 and out.shape[1] == channels
    if act != 'relu':
        assert not any(isinstance(m, nn.ReLU) for m in net.modules())


def test_torchvision_trunk_errors():
    with pytest.raises(ValueError, match="arch='resnet50'"):
        MODELS.build(dict(type='SCDATorchvisionNet', arch='resnet50'))
    with pytest.raises(ValueError, match='inception_v3'):
        MODELS.build(dict(type='SCDATorchvisionNet', arch='inception_v3',
                          activation='elu'))
