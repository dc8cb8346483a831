# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""AnchorBoxAugment on torchvision's ops: the anchors and the picks that mmdet's
AnchorGenerator + mmcv's NMS gave before."""
import pytest
import torch
from torchvision.ops import box_iou

from mmtobias.models.selfsup import AnchorBoxAugment
from mmtobias.models.selfsup.insloc_box_aug import base_anchors, grid_anchors

# the InsLoc configs' bbox_aug (configs/insloc/insloc_r50-c4_8xb32-coslr-200e_in1k.py)
CONFIG_AUG = dict(stride=16, scales=(2, 4, 8, 16), ratios=(0.5, 0.75, 1, 1.5, 2))


def paste_boxes(n, size=256, seed=0):
    """Boxes as InsLocComposite pastes them: long side in [128, 255), aspect
    ratio in [0.5, 2]."""
    g = torch.Generator().manual_seed(seed)
    long_side = torch.randint(128, 255, (n, 1), generator=g).float()
    aspect = torch.exp(torch.empty(n, 1).uniform_(-0.69, 0.69, generator=g))
    wh = long_side.repeat(1, 2)
    wh[aspect[:, 0] > 1, 1] /= aspect[aspect[:, 0] > 1, 0]
    wh[aspect[:, 0] <= 1, 0] *= aspect[aspect[:, 0] <= 1, 0]
    xy = torch.rand(n, 2, generator=g) * (size - wh)
    return torch.cat([xy, xy + wh], dim=1)


@pytest.mark.parametrize('img_shape', [(256, 256), (96, 160), (250, 17)])
@pytest.mark.parametrize('aug', [CONFIG_AUG, dict(stride=8, scales=(3, ), ratios=(1, 2.5))])
def test_anchors_identical_to_mmdet_anchor_generator(aug, img_shape):
    prior_generators = pytest.importorskip(
        'mmdet.models.task_modules.prior_generators',
        reason='mmdet (with mmcv ops) is needed for the reference anchors')
    reference = prior_generators.AnchorGenerator(
        strides=[aug['stride']], ratios=list(aug['ratios']), scales=list(aug['scales']))
    box_aug = AnchorBoxAugment(**aug)
    stride = aug['stride']
    feat_size = (-(-img_shape[0] // stride), -(-img_shape[1] // stride))
    expected = reference.grid_priors([feat_size], device='cpu')[0]
    got = box_aug.anchors(img_shape, 'cpu')
    assert got.dtype == expected.dtype == torch.float32
    assert torch.equal(got, expected)  # bit for bit, same order
    assert torch.equal(box_aug.base_anchors, reference.base_anchors[0])


def test_base_anchors_sizes_follow_ratio_and_scale():
    base = base_anchors(16, (2, 4), (0.5, 2))  # ratio-major: (0.5, 2), (0.5, 4), (2, 2), ...
    w, h = base[:, 2] - base[:, 0], base[:, 3] - base[:, 1]
    torch.testing.assert_close(h / w, torch.tensor([0.5, 0.5, 2., 2.]))
    torch.testing.assert_close((w * h).sqrt(), torch.tensor([32., 64., 32., 64.]))
    torch.testing.assert_close(base[:, :2] + base[:, 2:], torch.zeros(4, 2))  # centred on 0
    grid = grid_anchors(base, (2, 3), 16)
    assert grid.shape == (2 * 3 * 4, 4)
    torch.testing.assert_close(grid[4 * 4], base[0] + torch.tensor([16., 16., 16., 16.]))


def test_picks_identical_to_mmcv_nms_and_mmdet_iou():
    """The same draws from the same seed as the mmdet / mmcv implementation."""
    mmcv_ops = pytest.importorskip('mmcv.ops', reason='mmcv compiled ops are the reference')
    overlaps = pytest.importorskip('mmdet.structures.bbox').bbox_overlaps
    box_aug = AnchorBoxAugment()
    gt = torch.cat([paste_boxes(64), torch.tensor([[100., 100., 104., 104.]])])
    torch.manual_seed(3)
    got = box_aug(gt, (256, 256))

    torch.manual_seed(3)
    anchors = box_aug.anchors((256, 256), 'cpu')
    ious = overlaps(gt, anchors)
    torch.testing.assert_close(box_iou(gt, anchors), ious, atol=1e-6, rtol=0)
    for i in range(gt.size(0)):
        cand = torch.nonzero(ious[i] > 0.5).squeeze(1)
        if cand.numel() == 0:
            cand = ious[i].topk(10).indices
        boxes = anchors[cand]
        _, keep = mmcv_ops.nms(boxes, torch.rand(boxes.size(0)), 0.7)
        expected = boxes[keep[torch.randint(keep.numel(), (1, ))]]
        torch.testing.assert_close(got[i:i + 1], expected, atol=0, rtol=0)


def test_augmented_boxes_are_anchors_overlapping_the_gt():
    torch.manual_seed(0)
    box_aug = AnchorBoxAugment(**CONFIG_AUG)
    gt = paste_boxes(100)
    out = box_aug(gt, (256, 256))
    assert (box_iou(out, gt).diagonal() > 0.5).all()
    anchors = box_aug.anchors((256, 256), 'cpu')
    assert (box_iou(out, anchors).max(dim=1).values == 1).all()  # every box is an anchor
    assert not torch.equal(box_aug(gt, (256, 256)), out)  # random


def test_repr_and_errors():
    assert repr(AnchorBoxAugment(stride=8)).startswith(
        'AnchorBoxAugment(stride=8, scales=(2, 4, 8, 16)')
    with pytest.raises(ValueError, match='nms_iou_thr'):
        AnchorBoxAugment(nms_iou_thr=0)
    with pytest.raises(ValueError, match='fallback_topk'):
        AnchorBoxAugment(fallback_topk=0)
    with pytest.raises(ValueError, match='stride'):
        AnchorBoxAugment(stride=0)
