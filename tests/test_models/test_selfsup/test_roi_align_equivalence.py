# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""torchvision's roi_align(aligned=True, sampling_ratio=0), which InsLoc uses, pools the
same features as the mmcv.ops.RoIAlign configuration InsLoc used before (and mmdet
uses): output 7x7, spatial scale 1/16, sampling ratio 0 (adaptive), average pooling,
aligned=True (the mmcv defaults)."""
import pytest
import torch
from torchvision.ops import RoIAlign, roi_align

DEVICES = ['cpu'] + (['cuda'] if torch.cuda.is_available() else [])


def random_rois(num, img_size, num_images, generator):
    """Random boxes (batch index, x1, y1, x2, y2), a few partly outside the image and
    a few smaller than one feature cell."""
    xy = torch.rand(num, 2, generator=generator) * img_size
    wh = torch.rand(num, 2, generator=generator) * img_size * 0.8 + 1
    wh[:4] = torch.rand(4, 2, generator=generator) * 12  # below one 16-px cell
    boxes = torch.cat([xy - 0.1 * img_size, xy + wh], dim=1)  # some start outside
    idx = torch.randint(num_images, (num, 1), generator=generator).float()
    return torch.cat([idx, boxes], dim=1)


@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('seed', [0, 1, 2])
def test_torchvision_roi_align_equals_mmcv_roi_align(device, seed):
    mmcv_ops = pytest.importorskip('mmcv.ops', reason='mmcv with compiled ops is the reference')
    g = torch.Generator().manual_seed(seed)
    feats = torch.randn(3, 16, 20, 24, generator=g)  # stride 16: a 320 x 384 image
    rois = random_rois(64, 320, 3, g)
    reference = mmcv_ops.RoIAlign((7, 7), 1 / 16, sampling_ratio=0)
    assert (reference.pool_mode, reference.aligned) == ('avg', True)  # the defaults
    feats, rois = feats.to(device), rois.to(device)
    try:
        expected = reference(feats, rois)
    except RuntimeError as e:  # mmcv compiled for CPU only
        pytest.skip(f'mmcv RoIAlign does not run on {device}: {e}')
    got = roi_align(feats, rois, (7, 7), spatial_scale=1 / 16, sampling_ratio=0,
                    aligned=True)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    module = RoIAlign((7, 7), 1 / 16, sampling_ratio=0, aligned=True)
    torch.testing.assert_close(module(feats, rois), expected, atol=1e-5, rtol=1e-5)


def test_gradients_agree():
    mmcv_ops = pytest.importorskip('mmcv.ops', reason='mmcv with compiled ops is the reference')
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(2, 8, 16, 16, generator=g)
    rois = random_rois(16, 256, 2, g)
    grads = []
    for op in (mmcv_ops.RoIAlign((7, 7), 1 / 16, sampling_ratio=0),
               RoIAlign((7, 7), 1 / 16, sampling_ratio=0, aligned=True)):
        x = feats.clone().requires_grad_()
        (op(x, rois) * torch.arange(7.).view(1, 1, 1, 7)).sum().backward()
        grads.append(x.grad)
    torch.testing.assert_close(grads[0], grads[1], atol=1e-5, rtol=1e-5)


def test_not_aligned_differs():
    """aligned=False (torchvision's default) is a different op: the flag matters."""
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(1, 4, 16, 16, generator=g)
    rois = random_rois(8, 256, 1, g)
    a = roi_align(feats, rois, (7, 7), 1 / 16, 0, aligned=True)
    b = roi_align(feats, rois, (7, 7), 1 / 16, 0, aligned=False)
    assert not torch.allclose(a, b, atol=1e-3)
