# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""The one way mmtobias reads features out of a backbone.

:func:`extract_features` runs a backbone over batches of images and returns their
globally average-pooled last-stage features. The frozen-feature probes
(:mod:`mmtobias.evaluation.probes`), the online kNN monitor
(:class:`mmtobias.engine.hooks.KNNMonitor`) and the background-sensitivity probe
(:mod:`mmtobias.evaluation.background_sensitivity`) all call it; each keeps only its own
choice of images (its eval view).
"""
from typing import Callable, Iterable, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.dist import all_gather, get_dist_info

__all__ = ['IMAGENET_MEAN', 'IMAGENET_STD', 'extract_features', 'gather_rows',
           'imagenet_normalize', 'pool_last_stage']

# ImageNet statistics (RGB, 0-255), as every mmtobias read-out and mmpretrain's configs
IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)


def imagenet_normalize(images: torch.Tensor, device=None) -> torch.Tensor:
    """``N x 3 x H x W`` RGB images in 0-255 (any dtype) -> float32, normalised with
    the ImageNet mean and std, on ``device`` (Defaults to the images' device)."""
    x = images.to(device).float()
    mean = torch.tensor(IMAGENET_MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std


def pool_last_stage(out) -> torch.Tensor:
    """A backbone's output (a feature map, or a tuple/list whose last item is one)
    -> its global average, ``N x C`` float32."""
    out = out[-1] if isinstance(out, (tuple, list)) else out
    # in float32 whatever the backbone computes in: a half-precision sum loses digits
    return F.adaptive_avg_pool2d(out.float(), 1).flatten(1)


def gather_rows(local: torch.Tensor, total: int) -> torch.Tensor:
    """Undo a strided split: rank ``r`` holds rows ``r, r + W, r + 2W, ...``
    of a ``total``-row tensor; every rank gets the whole tensor in the
    original order. Ranks hold ``ceil`` or ``floor(total / W)`` rows, so each
    pads to the ceiling: every ``all_gather`` sees contiguous tensors of one
    shape and dtype, as NCCL requires."""
    rank, world_size = get_dist_info()
    if world_size == 1:
        return local
    rows = -(-total // world_size)
    padded = local.new_zeros((rows, ) + tuple(local.shape[1:]))
    padded[:local.shape[0]] = local
    parts = all_gather(padded.contiguous())
    out = local.new_empty((total, ) + tuple(local.shape[1:]))
    for r, part in enumerate(parts):
        n = len(range(r, total, world_size))
        out[r::world_size] = part[:n]
    return out


def _device_of(module: nn.Module) -> torch.device:
    return next(iter(module.parameters()), torch.empty(0)).device


def extract_features(backbone: nn.Module,
                     batches: Iterable,
                     data_preprocessor: Optional[Callable] = None,
                     normalize: bool = False,
                     gather_total: Optional[int] = None) -> torch.Tensor:
    """Globally average-pooled last-stage features of every image of ``batches``.

    The backbone runs in eval mode and without gradients; its train / eval mode is
    restored afterwards (also when a batch fails).

    Args:
        backbone (nn.Module): Maps ``N x 3 x H x W`` normalised images to a feature
            map, or to a tuple / list whose last item is one (mmpretrain's backbones).
        batches (Iterable): The batches, in order (a list, a DataLoader ...). Without
            ``data_preprocessor``: ``N x 3 x H x W`` RGB tensors in 0-255 (uint8 or
            float), normalised here with :func:`imagenet_normalize` on the backbone's
            device. With it: whatever it takes (a DataLoader's data batch).
        data_preprocessor (Callable, optional): A model's data preprocessor (an
            MMEngine ``BaseDataPreprocessor``, which moves the data to its device and
            applies the model's own normalisation and channel order), called as
            ``data_preprocessor(batch, False)['inputs']``. Defaults to None.
        normalize (bool): L2-normalise every feature row. Defaults to False.
        gather_total (int, optional): In a distributed run, every rank holds a
            strided share (rows ``rank, rank + world_size, ...``) of ``gather_total``
            images; the features are gathered with :func:`gather_rows`, so every
            rank returns all ``gather_total`` rows in their original order.
            Defaults to None (no gathering).

    Returns:
        torch.Tensor: ``N x C`` float32 on the backbone's device.
    """
    if gather_total is not None and (isinstance(gather_total, bool)
                                     or not isinstance(gather_total, int)
                                     or gather_total < 0):
        raise ValueError(f'gather_total must be a non-negative int or None, got '
                         f'{gather_total!r}.')
    device = _device_of(backbone)
    was_training = backbone.training
    backbone.eval()
    feats = []
    try:
        with torch.no_grad():
            for batch in batches:
                if data_preprocessor is None:
                    inputs = imagenet_normalize(batch, device)
                else:
                    inputs = data_preprocessor(batch, False)['inputs']
                feats.append(pool_last_stage(backbone(inputs)))  # N x C
    finally:
        backbone.train(was_training)
    if not feats:
        raise ValueError('extract_features got no batches: the image list or '
                         'DataLoader is empty.')
    feats = torch.cat(feats)
    if normalize:
        feats = F.normalize(feats, dim=1)
    if gather_total is not None:
        feats = gather_rows(feats, gather_total)
    return feats
