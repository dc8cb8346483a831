# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""InsLoc's bounding-box augmentation: a random anchor that overlaps the GT."""
from typing import Sequence, Tuple

import torch
from mmcv.ops import nms
from mmdet.models.task_modules.prior_generators import AnchorGenerator
from mmdet.structures.bbox import bbox_overlaps

__all__ = ['AnchorBoxAugment']


class AnchorBoxAugment:
    """Replace each ground-truth box by a random anchor that overlaps it.

    Anchors come from mmdet's ``AnchorGenerator`` on one feature level
    (``stride``, ``scales`` x ``ratios`` per location). For every GT box the
    anchors with IoU > ``pos_iou_thr`` are the candidates (if there are none,
    the ``fallback_topk`` anchors with the highest IoU); NMS at
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
        self.stride = stride
        self.scales = tuple(scales)
        self.ratios = tuple(ratios)
        self.pos_iou_thr = pos_iou_thr
        self.nms_iou_thr = nms_iou_thr
        self.fallback_topk = fallback_topk
        self.anchor_generator = AnchorGenerator(
            strides=[stride], ratios=list(ratios), scales=list(scales))
        self._cache = {}

    def anchors(self, img_shape: Tuple[int, int],
                device: torch.device) -> torch.Tensor:
        """All anchors (A x 4, xyxy) of an ``img_shape`` (h, w) image."""
        h, w = img_shape
        feat_size = ((h + self.stride - 1) // self.stride,
                     (w + self.stride - 1) // self.stride)
        key = (feat_size, str(device))
        if key not in self._cache:
            self._cache[key] = self.anchor_generator.grid_priors(
                [feat_size], device=device)[0]
        return self._cache[key]

    @torch.no_grad()
    def __call__(self, gt_bboxes: torch.Tensor,
                 img_shape: Tuple[int, int]) -> torch.Tensor:
        """``gt_bboxes``: N x 4 (xyxy) -> N x 4 augmented boxes."""
        anchors = self.anchors(img_shape, gt_bboxes.device)
        anchors = anchors.to(gt_bboxes.dtype)
        ious = bbox_overlaps(gt_bboxes, anchors)  # N x A
        out = torch.empty_like(gt_bboxes)
        for i in range(gt_bboxes.size(0)):
            cand = torch.nonzero(ious[i] > self.pos_iou_thr).squeeze(1)
            if cand.numel() == 0:
                k = min(self.fallback_topk, anchors.size(0))
                cand = ious[i].topk(k).indices
            boxes = anchors[cand]
            scores = torch.rand(boxes.size(0), device=boxes.device)
            _, keep = nms(boxes, scores, self.nms_iou_thr)
            pick = keep[torch.randint(keep.numel(), (1, ))]
            out[i] = boxes[pick]
        return out

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(stride={self.stride}, '
                f'scales={self.scales}, ratios={self.ratios}, '
                f'pos_iou_thr={self.pos_iou_thr}, '
                f'nms_iou_thr={self.nms_iou_thr}, '
                f'fallback_topk={self.fallback_topk})')
