# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
import math
import os.path as osp

import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmpretrain.registry import MODELS

import mmtobias  # noqa: F401

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


def build(**kw):
    return MODELS.build(dict(type='SCDAHourglass', **kw))


def _convs(block):
    return [m for m in block.modules() if isinstance(m, nn.Conv2d)]


def test_released_widths_and_full_resolution_output():
    net = build()
    enc = [_convs(b)[-1].out_channels for b in net.trunk.encoder]
    dec = [(_convs(b)[0].in_channels, _convs(b)[0].out_channels,
            _convs(b)[-1].out_channels) for b in net.trunk.decoder]
    # the released U-Net: 64 .. 512, the bottom halved to 512 (bilinear)
    assert enc == [64, 128, 256, 512, 512]
    # (in = upsampled + skip, mid = in / 2, out)
    assert dec == [(1024, 512, 256), (512, 256, 128), (256, 128, 64),
                   (128, 64, 64)]
    out = build(base_channels=8)(torch.rand(1, 3, 32, 32))
    assert isinstance(out, tuple) and out[0].shape == (1, 8, 32, 32)


@pytest.mark.parametrize('hw', [(36, 52), (17, 23)])
def test_odd_sizes_keep_the_input_resolution(hw):
    net = build(base_channels=4, num_levels=3, upsample='nearest')
    assert net(torch.rand(2, 3, *hw))[0].shape == (2, 4, *hw)


def test_built_frozen_in_eval_mode_and_seeded():
    a, b, c = build(base_channels=4, seed=1), build(base_channels=4, seed=1), \
        build(base_channels=4, seed=2)
    assert not a.training and not any(p.requires_grad for p in a.parameters())
    wa, wb, wc = (_convs(n.trunk.encoder[0])[0].weight for n in (a, b, c))
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)
    state = torch.get_rng_state()
    build(base_channels=4, seed=3)
    assert torch.equal(state, torch.get_rng_state())


def test_default_init_is_pytorchs_and_other_schemes_apply():
    conv = _convs(build(base_channels=8).trunk.encoder[0])[0]
    # PyTorch's default: kaiming_uniform(a=sqrt(5)), bound 1 / sqrt(fan_in)
    bound = 1 / math.sqrt(3 * 3 * 3)
    assert conv.weight.abs().max() <= bound and conv.bias.abs().max() > 0
    uni = _convs(build(base_channels=8, init='uniform').trunk.encoder[0])[0]
    assert uni.weight.abs().max() <= 0.1 and uni.bias.abs().max() == 0
    kai = _convs(build(base_channels=8, init='kaiming').trunk.encoder[0])[0]
    assert kai.weight.abs().max() > bound  # a normal draw, not bounded


def test_activation_and_bn_ablations():
    net = build(base_channels=4, num_levels=2, activation='softplus',
                with_bn=False)
    assert not any(isinstance(m, (nn.ReLU, nn.BatchNorm2d))
                   for m in net.modules())
    assert any(isinstance(m, nn.Softplus) for m in net.modules())
    assert net(torch.rand(1, 3, 8, 8))[0].shape == (1, 4, 8, 8)


def test_loads_backbone_weights_of_a_checkpoint(tmp_path):
    src = build(base_channels=4, num_levels=2, seed=7)
    path = str(tmp_path / 'hg.pth')
    torch.save(dict(state_dict={f'backbone.{k}': v
                                for k, v in src.state_dict().items()}), path)
    net = build(base_channels=4, num_levels=2, seed=0, checkpoint=path)
    x = torch.rand(1, 3, 16, 16)
    assert torch.equal(net(x)[0], src(x)[0])


def test_scda_localizer_uses_the_full_resolution_map():
    model = MODELS.build(dict(
        type='SCDALocalizer', seeds=[0, 1],
        backbone=dict(type='SCDAHourglass', base_channels=4, num_levels=2)))
    x = torch.rand(2, 3, 32, 32)
    assert model(x, mode='tensor').shape == (2, 2, 32, 32)  # N x seeds x H x W
    samples = model(x, mode='predict')
    assert samples[0].pred_bboxes.shape == (2, 4)


@pytest.mark.parametrize('data', ['cub', 'kangaroo'])
def test_configs_select_the_hourglass_with_three_seeds(data):
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'scda_localization',
                                   f'scda_hourglass_{data}.py'))
    assert cfg.model.type == 'SCDALocalizer' and cfg.model.seeds == [0, 1, 2]
    assert cfg.model.backbone == dict(
        type='SCDAHourglass', base_channels=64, num_levels=4,
        upsample='bilinear', activation='relu', with_bn=True,
        init='torchvision', seed=0)
    assert cfg.test_dataloader.batch_size == 8


def test_errors_name_the_field():
    with pytest.raises(ValueError, match='base_channels=3 must be even'):
        build(base_channels=3)
    with pytest.raises(ValueError, match='num_levels=0 must be a positive int'):
        build(num_levels=0)
    with pytest.raises(ValueError, match="upsample='bicubic' is not supported"):
        build(upsample='bicubic')
    with pytest.raises(ValueError, match="activation='gelu' is not supported"):
        build(activation='gelu')
