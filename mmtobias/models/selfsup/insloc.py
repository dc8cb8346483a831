# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""InsLoc: MoCo on RoIAlign-pooled box features (R50-C4 and R50-FPN)."""
import math
from typing import Dict, List, Optional, Sequence, Union

import torch
import torch.nn as nn
from mmengine.dist import all_gather, get_rank, get_world_size
from mmengine.model import ExponentialMovingAverage

from mmpretrain.models.selfsup import BaseSelfSupervisor
from mmpretrain.models.utils import batch_shuffle_ddp, batch_unshuffle_ddp
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from torchvision.ops import RoIAlign
from .insloc_box_aug import AnchorBoxAugment

__all__ = ['InsLoc']


def res4_features(backbone: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Run an mmpretrain/mmdet ResNet up to its third stage (stride 16)."""
    if getattr(backbone, 'deep_stem', False):
        x = backbone.stem(x)
    else:
        x = backbone.relu(backbone.norm1(backbone.conv1(x)))
    x = backbone.maxpool(x)
    for name in backbone.res_layers[:3]:
        x = getattr(backbone, name)(x)
    return x


def boxes_to_rois(boxes: torch.Tensor) -> torch.Tensor:
    """N x 4 boxes, one per image -> N x 5 RoIs ``(batch_idx, x1, y1, x2, y2)``."""
    idx = torch.arange(boxes.size(0), device=boxes.device, dtype=boxes.dtype)
    return torch.cat([idx[:, None], boxes], dim=1)


@MODELS.register_module()
class InsLoc(BaseSelfSupervisor):
    """InsLoc.

    Implementation of `Instance Localization for Self-supervised Detection
    Pretraining <https://arxiv.org/abs/2102.08318>`_ on mmpretrain's MoCo:
    the query and key are the features of a composited view pooled by
    RoIAlign at the view's paste box (``gt_bboxes`` packed by
    :class:`mmtobias.datasets.MultiViewWithBoxes`).

    Two architectures, chosen by ``box_head``:

    - **R50-C4** (``box_head=None``): RoIAlign on the res4 output (stride
      16), the backbone's last stage (res5) as the RoI head, then ``neck``
      (``MoCoV2Neck`` with global pooling). One loss, one queue.
    - **R50-FPN**: ``neck`` is an FPN over all backbone stages; every box is
      pooled from every level (no size-based level assignment) and embedded
      by the shared ``box_head``. One loss (``loss_p{2..5}``) and one queue
      per level, with a shared pointer.

    The query boxes of the levels in ``bbox_aug_levels`` are replaced by
    :class:`AnchorBoxAugment` boxes; the key always pools the GT box. The
    key encoder is an EMA of the query encoder (``backbone``, ``neck``,
    ``box_head``); its batch is shuffled across processes for BN, as in
    mmpretrain's MoCo (works on CPU/gloo and single-process).

    Args:
        backbone (dict): A ResNet config (mmpretrain ``ResNet``); for FPN
            with ``out_indices=(0, 1, 2, 3)``.
        neck (dict): ``MoCoV2Neck`` (C4) or ``mmdet.FPN`` (FPN).
        head (dict): ``ContrastiveHead`` (loss and temperature).
        box_head (dict, optional): Shared RoI head for FPN
            (:class:`InsLocBoxHead`); None selects C4. Defaults to None.
        roi_strides (Sequence[int]): Stride of each pooled level: ``(16,)``
            for C4, ``(4, 8, 16, 32)`` for FPN. Defaults to (16,).
        roi_size (int): RoIAlign output side. Defaults to 7.
        queue_len (int): Negative keys per level. Defaults to 65536.
        feat_dim (int): Embedding dimension. Defaults to 128.
        momentum (float): EMA update rate of the key encoder (mmengine
            convention: 0.001 is MoCo's 0.999). Defaults to 0.001.
        bbox_aug (dict, optional): :class:`AnchorBoxAugment` arguments.
            Defaults to None (the paper's values).
        bbox_aug_levels (Sequence[int]): Levels (indices into
            ``roi_strides``, negative allowed) whose query box is augmented;
            ``()`` disables box augmentation. Defaults to (-1,): the only C4
            level, the coarsest FPN level (as released).
        shuffle_bn (bool): Shuffle the key batch across processes.
            Defaults to True.
        pretrained (str, optional): Checkpoint to load. Defaults to None.
        data_preprocessor (dict, optional): Defaults to None
            (``SelfSupDataPreprocessor``).
        init_cfg (dict | list[dict], optional): Defaults to None.
    """

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 head: dict,
                 box_head: Optional[dict] = None,
                 roi_strides: Sequence[int] = (16, ),
                 roi_size: int = 7,
                 queue_len: int = 65536,
                 feat_dim: int = 128,
                 momentum: float = 0.001,
                 bbox_aug: Optional[dict] = None,
                 bbox_aug_levels: Sequence[int] = (-1, ),
                 shuffle_bn: bool = True,
                 pretrained: Optional[str] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[Union[List[dict], dict]] = None) -> None:
        super().__init__(
            backbone=backbone,
            neck=neck,
            head=head,
            pretrained=pretrained,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        num_levels = len(roi_strides)
        if box_head is None and num_levels != 1:
            raise ValueError('C4 InsLoc (box_head=None) pools one level, '
                             'res4: model.roi_strides must have one stride '
                             f'((16,) for a ResNet), got {tuple(roi_strides)}'
                             '; for FPN set model.box_head.')
        for lvl in bbox_aug_levels:
            if not -num_levels <= lvl < num_levels:
                raise ValueError(
                    f'model.bbox_aug_levels {tuple(bbox_aug_levels)} has '
                    f'{lvl}, not a level of roi_strides {tuple(roi_strides)}.')
        self.box_head = None
        if box_head is not None:
            self.box_head = MODELS.build(box_head)
        self.roi_strides = tuple(roi_strides)
        # torchvision's RoIAlign ships compiled for CPU and CUDA in every wheel;
        # aligned=True is the half-pixel convention of mmcv's RoIAlign default.
        self.roi_layers = nn.ModuleList(
            RoIAlign((roi_size, roi_size), 1.0 / s, sampling_ratio=0,
                     aligned=True) for s in roi_strides)
        self.bbox_aug = AnchorBoxAugment(**(bbox_aug or {}))
        self.bbox_aug_levels = {lvl % num_levels for lvl in bbox_aug_levels}
        self.shuffle_bn = shuffle_bn

        # the key encoder: an EMA copy of everything the query passes through
        encoder = [self.backbone, self.neck]
        if self.box_head is not None:
            encoder.append(self.box_head)
        self.encoder_k = ExponentialMovingAverage(
            nn.Sequential(*encoder), momentum)

        # one queue per level, shared pointer: L x C x K
        self.queue_len = queue_len
        self.register_buffer(
            'queue',
            nn.functional.normalize(
                torch.randn(num_levels, feat_dim, queue_len), dim=1))
        self.register_buffer('queue_ptr', torch.zeros(1, dtype=torch.long))

    @property
    def level_names(self) -> List[str]:
        if self.box_head is None:
            return ['']
        return [f'_p{int(round(math.log2(s)))}' for s in self.roi_strides]

    def extract_roi_feats(self, img: torch.Tensor,
                          boxes: List[torch.Tensor],
                          encoder: Optional[nn.Module] = None
                          ) -> List[torch.Tensor]:
        """RoIAlign features of one box per image on every level.

        Args:
            img (Tensor): N x 3 x H x W.
            boxes (list[Tensor]): Per level, N x 4 boxes (xyxy, pixels).
            encoder (nn.Module, optional): ``nn.Sequential(backbone, neck,
                [box_head])`` to use; the query encoder by default.

        Returns:
            list[Tensor]: Per level, N x C x roi x roi (C4: res4 channels).
        """
        backbone, neck = (self.backbone, self.neck) if encoder is None \
            else (encoder[0], encoder[1])
        if self.box_head is None:
            feats = [res4_features(backbone, img)]
        else:
            feats = neck(backbone(img))
            if len(feats) != len(self.roi_layers):
                raise ValueError(
                    f'the FPN gives {len(feats)} levels but model.roi_strides '
                    f'has {len(self.roi_layers)}: make them match.')
        return [
            roi(feat, boxes_to_rois(b))
            for roi, feat, b in zip(self.roi_layers, feats, boxes)
        ]

    def _embed(self, img: torch.Tensor, boxes: List[torch.Tensor],
               encoder: Optional[nn.Module] = None) -> torch.Tensor:
        """L x N x C normalized embeddings of the boxes."""
        modules = (self.backbone, self.neck, self.box_head) \
            if encoder is None else tuple(encoder) + (None, )
        roi_feats = self.extract_roi_feats(img, boxes, encoder)
        if self.box_head is None:  # res5 head, pooled by the MLP neck
            x = getattr(modules[0], modules[0].res_layers[-1])(roi_feats[0])
            out = [modules[1]((x, ))[0]]
        else:
            out = [modules[2](x) for x in roi_feats]
        return nn.functional.normalize(torch.stack(out), dim=2)

    @torch.no_grad()
    def _dequeue_and_enqueue(self, keys: torch.Tensor) -> None:
        """Put keys (L x N x C) into the queues at the shared pointer."""
        keys = torch.cat(all_gather(keys), dim=1)  # L x (N * world) x C
        batch_size = keys.shape[1]
        if self.queue_len % batch_size != 0:
            raise ValueError(
                f'model.queue_len ({self.queue_len}) must be a multiple of the '
                f'total batch size ({batch_size}); change one of them.')
        ptr = int(self.queue_ptr)
        self.queue[:, :, ptr:ptr + batch_size] = keys.transpose(1, 2)
        self.queue_ptr[0] = (ptr + batch_size) % self.queue_len

    @staticmethod
    def _gt_bboxes(data_samples: List[DataSample],
                   device: torch.device) -> torch.Tensor:
        try:
            boxes = [
                torch.as_tensor(s.gt_bboxes, dtype=torch.float32)
                for s in data_samples
            ]
        except AttributeError:
            raise ValueError(
                'InsLoc needs each sample\'s per-view boxes: the pipeline '
                'must end with InsLocComposite, MultiViewWithBoxes and '
                "PackInputs(algorithm_keys=['gt_bboxes']).") from None
        return torch.stack(boxes).to(device)  # N x views x 4

    def loss(self, inputs: List[torch.Tensor], data_samples: List[DataSample],
             **kwargs) -> Dict[str, torch.Tensor]:
        """Contrastive loss of the query and key box embeddings per level."""
        assert isinstance(inputs, list)
        im_q, im_k = inputs[0], inputs[1]
        gt = self._gt_bboxes(data_samples, im_q.device)
        # slices of N x views x 4 are strided views: NCCL only takes
        # contiguous tensors, and box_k goes into all_gather
        box_q, box_k = gt[:, 0].contiguous(), gt[:, 1].contiguous()  # N x 4
        num_levels = len(self.roi_layers)

        boxes_q = [box_q] * num_levels
        if self.bbox_aug_levels:
            aug = self.bbox_aug(box_q, im_q.shape[-2:])
            boxes_q = [
                aug if lvl in self.bbox_aug_levels else box_q
                for lvl in range(num_levels)
            ]
        q = self._embed(im_q, boxes_q)  # L x N x C

        with torch.no_grad():
            self.encoder_k.update_parameters(
                nn.Sequential(*[
                    m for m in (self.backbone, self.neck, self.box_head)
                    if m is not None
                ]))
            if self.shuffle_bn:
                # the boxes travel with their images
                im_k, idx_unshuffle = batch_shuffle_ddp(im_k)
                box_k = torch.cat(all_gather(box_k))[torch.argsort(
                    idx_unshuffle).view(get_world_size(), -1)[get_rank()]]
            k = self._embed(im_k, [box_k] * num_levels,
                            self.encoder_k.module)  # L x N x C
            if self.shuffle_bn:
                # batch_unshuffle_ddp all_gathers its input: N x L x C, dense
                k = batch_unshuffle_ddp(k.transpose(0, 1).contiguous(),
                                        idx_unshuffle).transpose(0, 1)

        losses = {}
        queue = self.queue.clone().detach()
        for lvl, name in enumerate(self.level_names):
            # positive logits: N x 1, negative logits: N x K
            l_pos = torch.einsum('nc,nc->n', [q[lvl], k[lvl]]).unsqueeze(-1)
            l_neg = torch.einsum('nc,ck->nk', [q[lvl], queue[lvl]])
            losses[f'loss{name}'] = self.head.loss(l_pos, l_neg)
        self._dequeue_and_enqueue(k.contiguous())  # L x N x C into all_gather
        return losses
