# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""InsLoc's bounding-box augmentation: a random anchor that overlaps the GT.

Only torchvision's ops are used (NMS and box IoU ship compiled for CPU and CUDA
in every torchvision wheel), so InsLoc trains without mmcv's compiled ops and
without importing mmdet.
"""
from typing import Sequence, Tuple

import torch
from torchvision.ops import box_iou, nms

__all__ = ['AnchorBoxAugment', 'base_anchors', 'grid_anchors']


def base_anchors(stride: int, scales: Sequence[float],
                 ratios: Sequence[float]) -> torch.Tensor:
    """The ``len(ratios) * len(scales)`` anchors (xyxy) of the location (0, 0).

    mmdet's ``AnchorGenerator`` convention (center offset 0, scale major):
    an anchor of ratio ``r`` (height / width) and scale ``s`` is
    ``stride * s / sqrt(r)`` wide and ``stride * s * sqrt(r)`` high, centred
    on the top-left corner of its cell; ratios vary slowest.
    """
    scales = torch.tensor(list(scales), dtype=torch.float32)
    h_ratios = torch.tensor(list(ratios), dtype=torch.float32).sqrt()
    w_ratios = 1 / h_ratios
    ws = (stride * w_ratios[:, None] * scales[None, :]).reshape(-1)
    hs = (stride * h_ratios[:, None] * scales[None, :]).reshape(-1)
    return torch.stack([-0.5 * ws, -0.5 * hs, 0.5 * ws, 0.5 * hs], dim=-1)


def grid_anchors(base: torch.Tensor, feat_size: Tuple[int, int],
                 stride: int) -> torch.Tensor:
    """``base`` (K x 4) shifted to every cell of a ``feat_size`` (h, w) grid:
    (h * w * K) x 4, cells in raster order, the K anchors of a cell together."""
    feat_h, feat_w = feat_size
    shift_x = torch.arange(feat_w, device=base.device).to(base.dtype) * stride
    shift_y = torch.arange(feat_h, device=base.device).to(base.dtype) * stride
    xx = shift_x.repeat(feat_h)  # x varies fastest (raster order)
    yy = shift_y[:, None].expand(feat_h, feat_w).reshape(-1)
    shifts = torch.stack([xx, yy, xx, yy], dim=-1)  # (h * w) x 4
    return (base[None] + shifts[:, None]).reshape(-1, 4)


class AnchorBoxAugment:
    """Replace each ground-truth box by a random anchor that overlaps it.

    Anchors tile one feature level (``stride``, ``scales`` x ``ratios`` per
    location, the same anchors as mmdet's ``AnchorGenerator``). For every GT
    box the anchors with IoU > ``pos_iou_thr`` are the candidates (if there
    are none, the ``fallback_topk`` anchors with the highest IoU); NMS at
    ``nms_iou_thr`` with random scores thins them to a spread-out set, and
    one of the survivors is picked uniformly. Random draws use the global
    torch RNG, so ``torch.manual_seed`` makes them reproducible.

    Args:
        stride (int): Stride of the anchor level. Defaults to 16.
        scales (Sequence[float]): Anchor scales (times ``stride``).
            Defaults to (2, 4, 8, 16).
        ratios (Sequence[float]): Anchor height / width ratios.
            Defaults to (0.5, 0.75, 1, 1.5, 2).
        pos_iou_thr (float): IoU an anchor must exceed. Defaults to 0.5.
        nms_iou_thr (float): NMS IoU threshold. Defaults to 0.7.
        fallback_topk (int): Candidates when no anchor passes
            ``pos_iou_thr``. Defaults to 10.
    """

    def __init__(self,
                 stride: int = 16,
                 scales: Sequence[float] = (2, 4, 8, 16),
                 ratios: Sequence[float] = (0.5, 0.75, 1, 1.5, 2),
                 pos_iou_thr: float = 0.5,
                 nms_iou_thr: float = 0.7,
                 fallback_topk: int = 10) -> None:
        if not 0 <= pos_iou_thr < 1 or not 0 < nms_iou_thr <= 1:
            raise ValueError('`pos_iou_thr` must be in [0, 1) and '
                             '`nms_iou_thr` in (0, 1], got '
                             f'{pos_iou_thr!r} and {nms_iou_thr!r}.')
        if not isinstance(fallback_topk, int) or fallback_topk < 1:
            raise ValueError('`fallback_topk` must be an int >= 1, got '
                             f'{fallback_topk!r}.')
        if not isinstance(stride, int) or stride < 1:
            raise ValueError(f'`stride` must be an int >= 1, got {stride!r}.')
        self.stride = stride
        self.scales = tuple(scales)
        self.ratios = tuple(ratios)
        self.pos_iou_thr = pos_iou_thr
        self.nms_iou_thr = nms_iou_thr
        self.fallback_topk = fallback_topk
        self.base_anchors = base_anchors(stride, self.scales, self.ratios)
        self._cache = {}

    def anchors(self, img_shape: Tuple[int, int],
                device: torch.device) -> torch.Tensor:
        """All anchors (A x 4, xyxy) of an ``img_shape`` (h, w) image."""
        h, w = img_shape
        feat_size = ((h + self.stride - 1) // self.stride,
                     (w + self.stride - 1) // self.stride)
        key = (feat_size, str(device))
        if key not in self._cache:
            self._cache[key] = grid_anchors(
                self.base_anchors.to(device), feat_size, self.stride)
        return self._cache[key]

    @torch.no_grad()
    def __call__(self, gt_bboxes: torch.Tensor,
                 img_shape: Tuple[int, int]) -> torch.Tensor:
        """``gt_bboxes``: N x 4 (xyxy) -> N x 4 augmented boxes."""
        anchors = self.anchors(img_shape, gt_bboxes.device)
        anchors = anchors.to(gt_bboxes.dtype)
        ious = box_iou(gt_bboxes, anchors)  # N x A
        out = torch.empty_like(gt_bboxes)
        for i in range(gt_bboxes.size(0)):
            cand = torch.nonzero(ious[i] > self.pos_iou_thr).squeeze(1)
            if cand.numel() == 0:
                k = min(self.fallback_topk, anchors.size(0))
                cand = ious[i].topk(k).indices
            boxes = anchors[cand]
            scores = torch.rand(boxes.size(0), device=boxes.device)
            keep = nms(boxes, scores, self.nms_iou_thr)  # by decreasing score
            pick = keep[torch.randint(keep.numel(), (1, ))]
            out[i] = boxes[pick]
        return out

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(stride={self.stride}, '
                f'scales={self.scales}, ratios={self.ratios}, '
                f'pos_iou_thr={self.pos_iou_thr}, '
                f'nms_iou_thr={self.nms_iou_thr}, '
                f'fallback_topk={self.fallback_topk})')
