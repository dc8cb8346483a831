# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""The one feature extractor, and its three callers agreeing on the same images."""
import importlib

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmpretrain.registry import HOOKS, MODELS
from PIL import Image

import mmtobias  # noqa: F401
from mmtobias.evaluation import probes
from mmtobias.evaluation.features import (IMAGENET_MEAN, IMAGENET_STD, extract_features,
                                          imagenet_normalize, pool_last_stage)


class Recorder(nn.Module):
    """Identity trunk (pooled feature = normalised mean colour) that records the mode
    and grad state of every call; ``fail_at`` makes that call raise."""

    def __init__(self, fail_at=None):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1))
        self.calls, self.fail_at = [], fail_at

    def forward(self, x):
        self.calls.append((self.training, torch.is_grad_enabled()))
        if len(self.calls) == self.fail_at:
            raise RuntimeError('batch failed')
        return (x * 0, x * self.scale)  # the last item is the one pooled


def _tiny_resnet():
    torch.manual_seed(0)
    net = MODELS.build(dict(type='ResNet', depth=18, base_channels=8, stem_channels=8))
    net.init_weights()
    return net


def test_pooled_features_in_eval_mode_without_grad_and_mode_restored():
    net = Recorder()
    colours = torch.tensor([[200, 30, 30], [20, 20, 220]], dtype=torch.uint8)
    images = colours.view(2, 3, 1, 1).expand(2, 3, 4, 5)
    feats = extract_features(net, [images[:1], images[1:]])
    assert feats.dtype == torch.float32 and feats.shape == (2, 3)
    expected = (colours.double() - torch.tensor(IMAGENET_MEAN, dtype=torch.float64)) / \
        torch.tensor(IMAGENET_STD, dtype=torch.float64)
    torch.testing.assert_close(feats.double(), expected, atol=1e-6, rtol=0)
    assert net.calls == [(False, False)] * 2 and net.training  # restored
    unit = extract_features(net, [images], normalize=True)
    torch.testing.assert_close(unit, torch.nn.functional.normalize(feats, dim=1))
    net.eval()
    extract_features(net, [images])
    assert not net.training  # an eval-mode backbone stays in eval mode


def test_mode_is_restored_when_a_batch_fails():
    net = Recorder(fail_at=2)
    with pytest.raises(RuntimeError, match='batch failed'):
        extract_features(net, [torch.zeros(1, 3, 2, 2)] * 3)
    assert net.training


def test_data_preprocessor_replaces_the_imagenet_normalisation():
    net = Recorder()
    preprocessor = MODELS.build(dict(
        type='SelfSupDataPreprocessor', mean=IMAGENET_MEAN, std=IMAGENET_STD, to_rgb=True))
    rgb = torch.randint(0, 256, (2, 3, 6, 6), dtype=torch.uint8)
    bgr_batch = dict(inputs=rgb.flip(1), data_samples=None)  # as default_collate gives
    assert torch.equal(extract_features(net, [bgr_batch], preprocessor),
                       extract_features(net, [rgb]))


def test_helpers_and_errors():
    x = torch.arange(2 * 3 * 2 * 2, dtype=torch.float16).view(2, 3, 2, 2)
    pooled = pool_last_stage([x * 0, x])
    assert pooled.dtype == torch.float32
    assert torch.equal(pooled, x.float().mean((2, 3)))
    img = torch.full((1, 3, 1, 1), 255, dtype=torch.uint8)
    assert torch.allclose(imagenet_normalize(img).flatten(),
                          (255 - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD))
    with pytest.raises(ValueError, match='got no batches'):
        extract_features(Recorder(), [])
    with pytest.raises(ValueError, match='gather_total must be a non-negative int or None'):
        extract_features(Recorder(), [img], gather_total=-1)


def _class_folder(root, size=32, per_class=4):
    """``root/<class>/<i>.png`` (lossless, so cv2 and Pillow decode the same pixels)."""
    rng = np.random.default_rng(0)
    paths = []
    for cls in ('a', 'b'):
        (root / cls).mkdir(parents=True)
        for i in range(per_class):
            path = root / cls / f'{i}.png'
            Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(path)
            paths.append(str(path))
    return paths


def test_probes_knn_monitor_and_background_sensitivity_get_identical_features(
        tmp_path, monkeypatch):
    # 32 px images: the probes' and the monitor's eval view of size 28 (short side
    # resized to round(28 / 0.875) = 32, i.e. kept, then a centre crop) is the
    # centre 28 x 28, which the background-sensitivity probe gets as its own files.
    paths = _class_folder(tmp_path / 'folder')
    crops = []
    for i, path in enumerate(paths):
        crops.append(str(tmp_path / f'crop{i}.png'))
        Image.open(path).crop((2, 2, 30, 30)).save(crops[-1])
    net = _tiny_resnet()
    net.train()

    from_probes = probes.extract_features(net, paths, size=28, batch_size=8, num_workers=0)

    hook = HOOKS.build(dict(type='KNNMonitor', train_root=str(tmp_path / 'folder'),
                            val_root=str(tmp_path / 'folder'), image_size=28,
                            batch_size=8, num_workers=0))
    hook._build()
    preprocessor = MODELS.build(dict(
        type='SelfSupDataPreprocessor', mean=IMAGENET_MEAN, std=IMAGENET_STD, to_rgb=True))
    from_monitor = hook.extract(net, preprocessor)['train']

    seen = []

    def spy(*args, **kwargs):
        seen.append(extract_features(*args, **kwargs))
        return seen[-1]

    # the module (mmtobias.evaluation.background_sensitivity is its function)
    bg_module = importlib.import_module('mmtobias.evaluation.background_sensitivity')
    monkeypatch.setattr(bg_module, 'extract_features', spy)
    whole = np.array([[0, 0, 28, 28]])
    bg_module.background_sensitivity(net, [(p, whole) for p in crops], size=28,
                                     batch_size=8)
    from_bg = seen[0][:8].numpy()  # the originals come first, then the two swaps

    assert from_probes.shape == (8, 64) and net.training
    np.testing.assert_array_equal(from_monitor, from_probes)
    # one forward pass of 24 images there (originals and swaps) against 8 here: equal
    # up to how the convolution library blocks a batch
    np.testing.assert_allclose(from_bg, from_probes, rtol=0, atol=1e-6)
