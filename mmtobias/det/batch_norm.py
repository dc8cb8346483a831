# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""Batch normalisation for detection fine-tunes with few images per process.

The protocol's detectors use SyncBN everywhere (8 GPUs x 2 images: statistics over
16 images). On one process the same config trains BN over the images of one process
(2 on one GPU), and tests with running statistics averaged over the last few such
batches. Two remedies, both built on mmpretrain's ``update_bn_stats`` (the function
behind its ``PreciseBNHook``):

- **frozen backbone BN** (:func:`freeze_backbone_bn` + :class:`FrozenBNStatsHook`): the
  backbone's BN layers (and a C4 detector's res5 head) keep their affine parameters
  and normalise with fixed statistics, re-estimated on the training images before the
  first step; the neck and the box/mask heads use GroupNorm (32 groups), as mmdet's
  ``configs/scratch/`` do;
- **precise BN** (:func:`precise_bn`): after the last iteration, the statistics of the
  BN layers that train are recomputed as the true mean over many batches with the
  final weights (Wu & Johnson, "Rethinking Batch in BatchNorm", Sec. 3).
"""
import mmengine.dist
import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmpretrain.engine.hooks.precise_bn_hook import update_bn_stats
from torch.nn.modules.batchnorm import _BatchNorm
from torch.utils.data import DataLoader

from mmdet.registry import HOOKS

FROZEN_BN = dict(type='BN', requires_grad=False)
GROUP_NORM = dict(type='GN', num_groups=32, requires_grad=True)


def _separate_loader(loader, seed=None):
    """A loader over the training set for statistics only, with its own shuffling
    (seeded with the process's rank by default, so that processes draw different images;
    ``update_bn_stats`` averages their statistics).

    Not ``loader`` itself: MMEngine's ``InfiniteSampler`` hands every iterator the same
    index generator (created once in its ``__init__``), so when a second iterator over
    the training loader is closed, the training loop's iterator ends as well
    (``StopIteration`` at its next step; open-mmlab/mmengine#1649, reproduced by
    ``tests/test_det/test_batch_norm.py``). mmpretrain's ``PreciseBNHook`` hands
    ``update_bn_stats`` the training loader itself, so by the same mechanism a precise-BN
    step before the last iteration of an iteration-based loop would end its training
    (inferred, not run). The batch size is the training loader's, also when that
    batches through a ``batch_sampler`` (mmdet's ``AspectRatioBatchSampler``, which
    leaves ``DataLoader.batch_size`` None), as ``update_bn_stats`` reads it."""
    batch = loader.batch_size or loader.batch_sampler.batch_size
    generator = torch.Generator()
    generator.manual_seed(mmengine.dist.get_rank() if seed is None else seed)
    return DataLoader(loader.dataset, batch_size=batch, shuffle=True, generator=generator,
                      num_workers=loader.num_workers, collate_fn=loader.collate_fn,
                      worker_init_fn=loader.worker_init_fn, drop_last=True)


def _unwrap(model):
    return model.module if is_model_wrapper(model) else model


def _bn_layers(model, training):
    return [m for m in model.modules() if isinstance(m, _BatchNorm) and m.training == training]


def reestimate_bn(model, loader, num_samples, layers, logger=None):
    """Recompute the running statistics of ``layers`` (BN modules of ``model``) on
    ``num_samples`` images of ``loader``'s dataset (a separate loader, see
    :func:`_separate_loader`) with the current weights, leaving every other BN
    layer's statistics as they are.

    The model runs in train mode (with the ``layers`` in train mode and every other
    BN layer in eval mode) under ``torch.no_grad()``; afterwards ``model.train()``
    restores each module's own mode (``norm_eval`` included).
    """
    model = _unwrap(model)
    layers = list(layers)
    chosen = {id(m) for m in layers}
    model.train()
    for m in model.modules():
        if isinstance(m, _BatchNorm):
            m.train(id(m) in chosen)
    try:
        with torch.no_grad():
            update_bn_stats(model, _separate_loader(loader), num_samples, logger=logger)
    finally:
        model.train()


def precise_bn(runner, num_samples):
    """Precise BN for the BN layers that train (``norm_eval`` layers keep theirs), on
    ``num_samples`` images of the runner's training loader; returns how many layers."""
    model = _unwrap(runner.model)
    model.train()
    layers = _bn_layers(model, training=True)
    if layers:
        reestimate_bn(model, runner.train_dataloader, num_samples, layers,
                      logger=runner.logger)
    return len(layers)


def freeze_backbone_bn(model_cfg):
    """Frozen BN in the backbone (and a C4 res5 shared head), GroupNorm in the neck and
    the box and mask heads; in place on a detector's ``model`` config.

    Returns:
        dict: ``frozen`` and ``group_norm``, the parts of ``model`` changed.
    """
    changed = dict(frozen=[], group_norm=[])
    backbone = model_cfg.get('backbone')
    if not backbone or 'norm_cfg' not in backbone:
        raise ValueError('frozen backbone BN needs model.backbone.norm_cfg (a ResNet '
                         f"backbone), got model.backbone={backbone}")
    backbone.update(norm_cfg=dict(FROZEN_BN), norm_eval=True)
    changed['frozen'].append('backbone')
    roi_head = model_cfg.get('roi_head') or {}
    if roi_head.get('shared_head'):
        roi_head.shared_head.update(norm_cfg=dict(FROZEN_BN), norm_eval=True)
        changed['frozen'].append('roi_head.shared_head')
    neck = model_cfg.get('neck')
    if neck is not None and 'norm_cfg' in neck:
        neck.norm_cfg = dict(GROUP_NORM)
        changed['group_norm'].append('neck')
    for name in ('bbox_head', 'mask_head'):
        head = roi_head.get(name)
        if head is not None and head.get('norm_cfg') is not None:
            head.norm_cfg = dict(GROUP_NORM)
            changed['group_norm'].append(f'roi_head.{name}')
    return changed


@HOOKS.register_module()
class FrozenBNStatsHook(Hook):
    """Re-estimate the statistics of the frozen (``norm_eval``) BN layers on the
    training images before the first step.

    A checkpoint's BN statistics describe its pretraining images at their resolution
    (and a random initialisation's are 0 and 1); layers that stay frozen during the
    fine-tune should normalise the target images instead. The statistics are
    recomputed once, with the loaded weights, at the first iteration (after every
    ``before_train`` hook, so a check of the loaded values sees the checkpoint's);
    a resumed run keeps those in its checkpoint.

    Args:
        num_samples (int): images to estimate from (rounded down to whole batches,
            at most one pass over the training set). Defaults to 512.
    """

    priority = 'VERY_HIGH'

    def __init__(self, num_samples=512):
        if num_samples < 1:
            raise ValueError(f'num_samples must be >= 1, got {num_samples}')
        self.num_samples = num_samples
        self.layers = None  # how many layers were re-estimated, for the record

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.iter > 0 or self.layers is not None:
            return
        model = _unwrap(runner.model)
        model.train()
        frozen = _bn_layers(model, training=False)
        self.layers = len(frozen)
        if not frozen:
            runner.logger.warning('FrozenBNStatsHook: no BN layer is frozen (norm_eval) '
                                  'in this model; nothing to re-estimate')
            return
        runner.logger.info(f're-estimating the statistics of {len(frozen)} frozen BN '
                           f'layers on {self.num_samples} training images')
        reestimate_bn(model, runner.train_dataloader, self.num_samples, frozen,
                      logger=runner.logger)
