# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""SCDA localizer: one box per image from a (random or pretrained) CNN."""
import copy
from typing import List, Optional, Sequence

import numpy as np
import torch
import torch.nn as nn
from mmengine.logging import print_log
from mmengine.model import BaseModel
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from mmtobias.scda.core import scda_map
from .scda_box import THRESHOLDS, UPSAMPLE_MODES, scda_box

__all__ = ['SCDALocalizer']

_DEFAULT_PREPROCESSOR = dict(
    type='ClsDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)


@MODELS.register_module()
class SCDALocalizer(BaseModel):
    """Unsupervised object localization with SCDA (Wei et al. 2017).

    For each image: channel-sum of the backbone's last feature map, binarise
    (``> mean`` by default), keep the largest 8-connected component, upsample
    it to the input size (nearest by default) and take its bounding box; the
    whole image when nothing is left. Evaluation-only: ``loss`` is not
    defined. Pair it with
    :class:`mmtobias.evaluation.metrics.SCDALocalization`.

    Several seeds are evaluated in one pass over the data: with
    ``seeds=[0, 1, 2]`` one backbone per seed is built from ``backbone``
    (its ``seed`` overridden) and every image gets one box per seed, so the
    metric reports mean ± std without reloading the images.

    A checkpoint can be given as ``backbone.checkpoint`` or, through stock
    ``tools/test.py CONFIG CHECKPOINT`` (``load_from``): its ``backbone.*``
    keys are copied into every backbone here (``backbones.<i>.*``).

    Args:
        backbone (dict): Backbone config, e.g. ``dict(type='SCDAResNet')``.
            Its output (a tensor or a tuple whose last item is used) must be
            ``N x C x h x w``.
        seeds (Sequence[int], optional): Build one backbone per seed. None
            builds the single backbone exactly as configured.
            Defaults to None.
        threshold (str): 'mean', 'median' or 'topk'. Defaults to 'mean'.
        topk_fraction (float): Fraction of cells kept by 'topk'.
            Defaults to 0.5.
        connectivity (int, optional): 8 or 4 for the largest connected
            component; None keeps all foreground cells. Defaults to 8.
        upsample (str): 'nearest' or 'bilinear'. Defaults to 'nearest'.
        data_preprocessor (dict, optional): Defaults to mmpretrain's
            ``ClsDataPreprocessor`` with ImageNet mean / std and BGR -> RGB.
        init_cfg (dict, optional): Defaults to None.
    """

    def __init__(self,
                 backbone: dict,
                 seeds: Optional[Sequence[int]] = None,
                 threshold: str = 'mean',
                 topk_fraction: float = 0.5,
                 connectivity: Optional[int] = 8,
                 upsample: str = 'nearest',
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        if data_preprocessor is None:
            data_preprocessor = copy.deepcopy(_DEFAULT_PREPROCESSOR)
        if isinstance(data_preprocessor, dict):
            # BaseModel would look it up in mmengine's root registry only.
            data_preprocessor = MODELS.build(data_preprocessor)
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if not isinstance(backbone, dict):
            raise TypeError(f'backbone must be a config dict, got '
                            f'{type(backbone).__name__} (config field '
                            f'model.backbone).')
        if threshold not in THRESHOLDS:
            raise ValueError(f'threshold={threshold!r} is not supported; '
                             f'choose one of {THRESHOLDS} (config field '
                             f'model.threshold).')
        if upsample not in UPSAMPLE_MODES:
            raise ValueError(f'upsample={upsample!r} is not supported; '
                             f'choose one of {UPSAMPLE_MODES} (config field '
                             f'model.upsample).')
        if connectivity not in (4, 8, None):
            raise ValueError(f'connectivity={connectivity!r} must be 8, 4 or '
                             f'None (config field model.connectivity).')
        if not 0.0 < float(topk_fraction) <= 1.0:
            raise ValueError(f'topk_fraction={topk_fraction!r} must be in '
                             f'(0, 1] (config field model.topk_fraction).')
        if seeds is not None:
            seeds = [int(s) for s in seeds]
            if not seeds:
                raise ValueError('seeds=[] is empty; give at least one seed '
                                 'or None (config field model.seeds).')
            if backbone.get('checkpoint') is not None and len(seeds) > 1:
                raise ValueError(
                    f'seeds={seeds} with backbone.checkpoint='
                    f'{backbone["checkpoint"]!r}: a checkpoint has one set of '
                    f'weights, so set model.seeds=None.')
            cfgs = [dict(backbone, seed=s) for s in seeds]
        else:
            cfgs = [dict(backbone)]
        self.seeds = seeds
        self.threshold, self.topk_fraction = threshold, float(topk_fraction)
        self.connectivity, self.upsample = connectivity, upsample
        self.backbones = nn.ModuleList(MODELS.build(c) for c in cfgs)
        self.backbones.requires_grad_(False)
        self.register_load_state_dict_pre_hook(self._copy_backbone_keys)

    def _copy_backbone_keys(self, module, state_dict, prefix, *args) -> None:
        """Map a checkpoint's ``backbone.*`` keys onto ``backbones.<i>.*``."""
        src = prefix + 'backbone.'
        keys = [k for k in state_dict if k.startswith(src)]
        if not keys or any(
                k.startswith(prefix + 'backbones.') for k in state_dict):
            return
        for i in range(len(self.backbones)):
            for k in keys:
                state_dict[f'{prefix}backbones.{i}.{k[len(src):]}'] = \
                    state_dict[k]
        for k in keys:
            del state_dict[k]
        print_log(f'SCDALocalizer: loaded {len(keys)} "backbone.*" tensors '
                  f'into {len(self.backbones)} backbone(s).', logger='current')
        if len(self.backbones) > 1:
            print_log('SCDALocalizer: every seed now has the checkpoint '
                      'weights; set model.seeds=None to evaluate it once.',
                      logger='current', level=30)

    @torch.no_grad()
    def extract_maps(self, inputs: torch.Tensor) -> List[torch.Tensor]:
        """SCDA maps per backbone: a list of ``N x h x w`` float tensors."""
        maps = []
        for backbone in self.backbones:
            feats = backbone(inputs)
            if isinstance(feats, (tuple, list)):
                feats = feats[-1]
            maps.append(scda_map(feats))  # N x h x w
        return maps

    def forward(self,
                inputs: torch.Tensor,
                data_samples: Optional[List[DataSample]] = None,
                mode: str = 'tensor'):
        if mode == 'tensor':
            # N x S x h x w
            return torch.stack(self.extract_maps(inputs), dim=1)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'loss':
            raise NotImplementedError(
                'SCDALocalizer is evaluation-only (no training loss); use it '
                'with tools/test.py or tools/eval_localization.py.')
        raise ValueError(f'mode={mode!r} must be "tensor" or "predict".')

    @torch.no_grad()
    def predict(self,
                inputs: torch.Tensor,
                data_samples: Optional[List[DataSample]] = None
                ) -> List[DataSample]:
        """Predict one box per image and backbone.

        Adds to each data sample (S = number of backbones):
        ``pred_bboxes`` (S x 4, ``[x1, y1, x2, y2]`` in input pixels, i.e.
        ``img_shape`` coordinates), ``pred_bboxes_ori`` (the same in
        original-image pixels, when ``scale_factor`` is known),
        ``pred_masks`` (S x h x w bool, the kept cells), ``scda_maps`` (S x h x w) and
        ``pred_fallback`` (S, True where the whole image was used).
        """
        n, _, in_h, in_w = inputs.shape
        maps = torch.stack(self.extract_maps(inputs), dim=1).cpu()  # N S h w
        if data_samples is None:
            data_samples = [DataSample() for _ in range(n)]
        for i, sample in enumerate(data_samples):
            # Boxes live in the un-padded input (img_shape) frame.
            img_h, img_w = sample.metainfo.get('img_shape', (in_h, in_w))[:2]
            boxes, masks, fallback = [], [], []
            for amap in maps[i].numpy():
                box, mask, fb = scda_box(
                    amap, (in_h, in_w), self.threshold, self.topk_fraction,
                    self.connectivity, self.upsample)
                if fb:
                    box = np.array([0, 0, img_w, img_h], dtype=np.float32)
                box = np.minimum(box, np.array(
                    [img_w, img_h, img_w, img_h], dtype=np.float32))
                boxes.append(box)
                masks.append(mask)
                fallback.append(fb)
            boxes = np.stack(boxes)
            sample.set_field(torch.from_numpy(boxes), 'pred_bboxes')
            if 'scale_factor' in sample.metainfo:
                # scale_factor is (w_scale, h_scale) as set by mmcv Resize.
                sw, sh = sample.metainfo['scale_factor'][:2]
                sample.set_field(
                    torch.from_numpy(boxes / np.array(
                        [sw, sh, sw, sh], dtype=np.float32)),
                    'pred_bboxes_ori')
            sample.set_field(torch.from_numpy(np.stack(masks)), 'pred_masks')
            sample.set_field(maps[i], 'scda_maps')
            sample.set_field(torch.tensor(fallback), 'pred_fallback')
        return data_samples
