# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
import numpy as np
import pytest
import torch
import torch.nn as nn

from mmtobias.scda import (build_scda_backbone, init_weights, scda_map,
                           top_fraction_mask)


def _tiny_net():
    return nn.Sequential(
        nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 4, 1),
        nn.Flatten(), nn.Linear(4, 2))


def test_init_weights_seeded_is_reproducible_and_keeps_global_rng():
    a, b, c = _tiny_net(), _tiny_net(), _tiny_net()
    state = torch.get_rng_state()
    init_weights(a, 'kaiming', seed=7)
    assert torch.equal(torch.get_rng_state(), state)  # global RNG untouched
    init_weights(b, 'kaiming', seed=7)
    init_weights(c, 'kaiming', seed=8)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    assert not torch.equal(a[0].weight, c[0].weight)
    init_weights(c, 'kaiming')  # seed=None draws from the global RNG
    assert not torch.equal(torch.get_rng_state(), state)


@pytest.mark.parametrize('scheme', ['kaiming', 'uniform', 'normal', 'xavier'])
def test_init_weights_schemes(scheme):
    net = init_weights(nn.Sequential(nn.Conv2d(64, 256, 3), nn.BatchNorm2d(256)),
                       scheme, seed=0)
    w = net[0].weight
    assert torch.all(net[0].bias == 0)
    assert torch.all(net[1].weight == 1) and torch.all(net[1].bias == 0)
    if scheme == 'kaiming':  # fan_out = 256 * 9
        assert abs(w.std().item() - (2 / (256 * 9))**0.5) < 2e-3
    elif scheme == 'uniform':
        assert w.min() >= -0.1 and w.max() <= 0.1 and w.max() > 0.09
    elif scheme == 'normal':
        assert abs(w.std().item() - 0.1) < 5e-3
    else:  # xavier_uniform bound sqrt(6 / (fan_in + fan_out))
        bound = (6 / (64 * 9 + 256 * 9))**0.5
        assert w.abs().max() <= bound and w.abs().max() > 0.9 * bound


def test_init_weights_errors():
    with pytest.raises(ValueError, match="scheme='he'.*kaiming"):
        init_weights(_tiny_net(), 'he')
    with pytest.raises(TypeError, match='seed must be an int'):
        init_weights(_tiny_net(), 'kaiming', seed='0')


def test_default_backbone_is_faithful_r50_4x4():
    net = build_scda_backbone()
    assert not net.training
    assert all(not p.requires_grad for p in net.parameters())
    assert isinstance(net.extra_pool, nn.MaxPool2d)
    assert net.extra_pool.kernel_size == 2 and net.extra_pool.padding == 1
    with torch.inference_mode():
        out = net(torch.randn(1, 3, 224, 224))
    assert out.shape == (1, 2048, 4, 4)
    # BN running stats at their initial values (eval mode, never updated).
    assert torch.all(net.stem[1].running_mean == 0)
    assert torch.all(net.layer4[2].bn3.running_var == 1)
    # The same weights as torchvision's resnet50 re-initialised with the
    # same seed (what the benchmark's released-approach baseline uses).
    import torchvision
    tv = init_weights(torchvision.models.resnet50(weights=None), seed=0)
    assert torch.equal(tv.layer3[1].conv2.weight, net.layer3[1].conv2.weight)
    assert torch.equal(tv.conv1.weight, net.stem[0].weight)


def test_backbone_options_change_the_grid():
    x = torch.randn(2, 3, 224, 224)
    with torch.inference_mode():
        assert build_scda_backbone('resnet18', extra_pool=False)(x).shape == (
            2, 512, 7, 7)
        assert build_scda_backbone('resnet18', layer4_stride=1)(x).shape == (
            2, 512, 8, 8)
        assert build_scda_backbone('resnet18', grid=2)(
            torch.randn(1, 3, 96, 96)).shape == (1, 512, 2, 2)


def test_same_seed_same_maps_and_seed_matters():
    x = torch.randn(2, 3, 64, 64)
    with torch.inference_mode():
        a = scda_map(build_scda_backbone('resnet18', seed=3)(x))
        b = scda_map(build_scda_backbone('resnet18', seed=3)(x))
        c = scda_map(build_scda_backbone('resnet18', seed=4)(x))
    assert a.shape == (2, 2, 2)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_backbone_errors():
    with pytest.raises(ValueError, match="arch='vgg16'.*resnet50"):
        build_scda_backbone('vgg16')
    with pytest.raises(ValueError, match='layer4_stride must be 1 or 2'):
        build_scda_backbone('resnet18', layer4_stride=3)
    with pytest.raises(ValueError, match='grid must be a positive int'):
        build_scda_backbone('resnet18', grid=0)


def test_scda_map_is_channel_sum_in_float32():
    feats = torch.arange(2 * 3 * 2 * 2, dtype=torch.bfloat16).reshape(2, 3, 2, 2)
    out = scda_map(feats)
    assert out.dtype == torch.float32
    assert torch.equal(out, feats.float().sum(1))
    with pytest.raises(ValueError, match=r'N x C x h x w.*\(3, 2, 2\)'):
        scda_map(feats[0])


def test_top_fraction_mask_picks_top_half():
    a = np.array([[0, 9, 1, 8], [2, 7, 3, 6], [4, 5, 10, 11], [15, 14, 13, 12]],
                 dtype=np.float32)
    mask = top_fraction_mask(a)
    assert mask.dtype == bool and mask.sum() == 8
    assert np.array_equal(mask, a >= 8)
    # torch in, torch out, batched.
    t = torch.from_numpy(np.stack([a, -a]))
    tm = top_fraction_mask(t, fraction=0.25)
    assert isinstance(tm, torch.Tensor) and tm.dtype == torch.bool
    assert np.array_equal(tm[0].numpy(), a >= 12)
    assert np.array_equal(tm[1].numpy(), a <= 3)


def test_top_fraction_mask_ties_lower_raster_index_wins():
    flat = top_fraction_mask(np.zeros((4, 4))).reshape(-1)
    assert flat[:8].all() and not flat[8:].any()
    a = np.ones((4, 4))
    a[3, 3] = 2  # one clear winner, then the first 7 tied cells in raster order
    flat = top_fraction_mask(a).reshape(-1)
    assert flat[15] and flat[:7].all() and not flat[7:15].any()


def test_top_fraction_mask_nan_ranks_last_and_errors():
    a = np.arange(16, dtype=np.float32).reshape(4, 4)
    a[3, 3] = np.nan
    flat = top_fraction_mask(a).reshape(-1)
    assert not flat[15] and flat[7:15].all()
    assert top_fraction_mask(a, 0.0).sum() == 0
    assert top_fraction_mask(a, 1.0).sum() == 16
    with pytest.raises(ValueError, match='fraction must be in'):
        top_fraction_mask(a, 1.5)
    with pytest.raises(ValueError, match='at least 2 dims'):
        top_fraction_mask(np.zeros(4))
