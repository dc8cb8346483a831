# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""SCDA with a randomly initialised CNN (the "Tobias" localisation).

Plain functions, no registry: they are shared by the mask generator and the
SCDA localisation evaluator. The defaults follow SPEC section 1: a torchvision
ResNet-50 with PyTorch's default Kaiming (fan_out) initialisation in eval mode
(BN running statistics at their initial values), the output of ``layer4`` and
one extra ``MaxPool2d(2, 2, padding=1)`` (7x7 -> 4x4 at 224x224); the
aggregation map is the sum over channels and the foreground is the top half of
the cells by value.
"""
import math
from typing import Optional, Union

import numpy as np
import torch
import torch.nn as nn
import torchvision

__all__ = [
    'INIT_SCHEMES', 'SCDA_ARCHS', 'IMAGENET_MEAN', 'IMAGENET_STD',
    'init_weights', 'build_scda_backbone', 'scda_map', 'top_fraction_mask'
]

INIT_SCHEMES = ('kaiming', 'uniform', 'normal', 'xavier')
# torchvision ResNet-family constructors usable as SCDA backbones.
SCDA_ARCHS = ('resnet18', 'resnet34', 'resnet50', 'resnet101', 'resnet152',
              'resnext50_32x4d', 'resnext101_32x8d', 'wide_resnet50_2',
              'wide_resnet101_2')
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _init_module(module: nn.Module, scheme: str) -> None:
    for m in module.modules():
        if isinstance(m, (nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm)):
            if m.weight is not None:
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            continue
        if not isinstance(m, (nn.Conv2d, nn.Linear)):
            continue
        if scheme == 'kaiming':
            if isinstance(m, nn.Conv2d):
                # torchvision's ResNet default (what the Tobias paper uses).
                nn.init.kaiming_normal_(
                    m.weight, mode='fan_out', nonlinearity='relu')
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            else:
                m.reset_parameters()  # torchvision leaves nn.Linear default
            continue
        if scheme == 'uniform':
            nn.init.uniform_(m.weight, -0.1, 0.1)
        elif scheme == 'normal':
            nn.init.normal_(m.weight, 0.0, 0.1)
        else:  # xavier
            nn.init.xavier_uniform_(m.weight)
        if m.bias is not None:
            nn.init.zeros_(m.bias)


def init_weights(module: nn.Module,
                 scheme: str = 'kaiming',
                 seed: Optional[int] = None) -> nn.Module:
    """Re-initialise the conv / linear / norm weights of ``module`` in place.

    Args:
        module (nn.Module): The network to initialise.
        scheme (str): ``'kaiming'`` (torchvision's default ResNet init:
            ``kaiming_normal_(mode='fan_out', nonlinearity='relu')`` for convs),
            ``'uniform'`` (U(-0.1, 0.1)), ``'normal'`` (N(0, 0.1)) or
            ``'xavier'`` (``xavier_uniform_``). Biases are 0 and norm layers
            weight 1 / bias 0 in every scheme. Defaults to 'kaiming'.
        seed (int, optional): Seed of the draw. The global RNG state is left
            untouched when given (the draw happens inside ``fork_rng``). None
            draws from the global RNG. Defaults to None.

    Returns:
        nn.Module: ``module`` itself.
    """
    if scheme not in INIT_SCHEMES:
        raise ValueError(f'init_weights: scheme={scheme!r} is not supported; '
                         f'choose one of {INIT_SCHEMES}.')
    if seed is None:
        _init_module(module, scheme)
        return module
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f'init_weights: seed must be an int or None, got '
                        f'{seed!r} ({type(seed).__name__}).')
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        _init_module(module, scheme)
    return module


class SCDABackbone(nn.Module):
    """The stem and the four ResNet stages, optionally followed by the
    faithful extra max-pool and an adaptive max-pool to a chosen grid."""

    def __init__(self, resnet: nn.Module, extra_pool: bool,
                 grid: Optional[int]):
        super().__init__()
        self.stem = nn.Sequential(resnet.conv1, resnet.bn1, resnet.relu,
                                  resnet.maxpool)
        self.layer1, self.layer2 = resnet.layer1, resnet.layer2
        self.layer3, self.layer4 = resnet.layer3, resnet.layer4
        self.extra_pool = (
            nn.MaxPool2d(2, 2, padding=1) if extra_pool else nn.Identity())
        self.grid_pool = (
            nn.AdaptiveMaxPool2d(grid) if grid is not None else nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: N x 3 x H x W -> N x C x h x w (2048 x 4 x 4 for R-50 at 224)
        x = self.stem(x)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.grid_pool(self.extra_pool(x))


def build_scda_backbone(arch: str = 'resnet50',
                        init: str = 'kaiming',
                        seed: Optional[int] = 0,
                        layer4_stride: int = 2,
                        extra_pool: bool = True,
                        grid: Optional[int] = None) -> nn.Module:
    """Build a randomly initialised backbone in eval mode for SCDA.

    Args:
        arch (str): A torchvision ResNet-family name, one of
            :data:`SCDA_ARCHS`. Defaults to 'resnet50'.
        init (str): Init scheme, see :func:`init_weights`.
            Defaults to 'kaiming'.
        seed (int, optional): Seed of the random weights (None: global RNG).
            Defaults to 0.
        layer4_stride (int): Stride of the first block of ``layer4``
            (1 doubles the resolution of the last map). Defaults to 2.
        extra_pool (bool): Append the faithful ``MaxPool2d(2, 2, padding=1)``
            after layer4 (7x7 -> 4x4 at 224). Defaults to True.
        grid (int, optional): If given, append ``AdaptiveMaxPool2d(grid)`` so
            that the output is ``grid x grid`` at any input size (an mmtobias
            extension; the faithful setting is None). Defaults to None.

    Returns:
        nn.Module: Maps ``N x 3 x H x W`` to ``N x C x h x w``; eval mode,
        ``requires_grad`` off.
    """
    if arch not in SCDA_ARCHS:
        raise ValueError(f'build_scda_backbone: arch={arch!r} is not '
                         f'supported; choose one of {SCDA_ARCHS}.')
    if layer4_stride not in (1, 2):
        raise ValueError(f'build_scda_backbone: layer4_stride must be 1 or 2, '
                         f'got {layer4_stride!r}.')
    if grid is not None and (not isinstance(grid, int) or grid < 1):
        raise ValueError(f'build_scda_backbone: grid must be a positive int '
                         f'or None, got {grid!r}.')
    # Build on the meta device: torchvision's own (unseeded) init would cost
    # time and global RNG draws; every weight is drawn below instead.
    with torch.random.fork_rng(devices=[]), torch.device('meta'):
        resnet = getattr(torchvision.models, arch)(weights=None)
    if layer4_stride == 1:
        block = resnet.layer4[0]
        conv = block.conv2 if hasattr(block, 'conv3') else block.conv1
        conv.stride = (1, 1)
        if block.downsample is not None:
            block.downsample[0].stride = (1, 1)
    model = SCDABackbone(resnet, extra_pool, grid).to_empty(device='cpu')
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()  # mean 0, var 1: never updated (eval)
    init_weights(model, init, seed)
    model.eval()
    model.requires_grad_(False)
    return model


def scda_map(features: torch.Tensor) -> torch.Tensor:
    """SCDA aggregation map: the channel sum ``N x C x h x w -> N x h x w``,
    accumulated in float32 whatever the feature dtype."""
    if features.dim() != 4:
        raise ValueError(f'scda_map: features must be N x C x h x w, got '
                         f'shape {tuple(features.shape)}.')
    return features.float().sum(dim=1)


def top_fraction_mask(scda_map: Union[np.ndarray, torch.Tensor],
                      fraction: float = 0.5) -> Union[np.ndarray, torch.Tensor]:
    """The ``round(fraction * h * w)`` cells with the largest values.

    Ranks rather than thresholds, so exactly that many cells are foreground
    (8 of 16 by default). Ties are broken deterministically: among equal
    values the lower raster index wins. NaNs rank lowest.

    Args:
        scda_map (np.ndarray | torch.Tensor): ``(..., h, w)`` maps.
        fraction (float): Fraction of cells marked foreground, in [0, 1].
            Defaults to 0.5.

    Returns:
        np.ndarray | torch.Tensor: bool, same type and shape as the input.
    """
    if not 0.0 <= float(fraction) <= 1.0:
        raise ValueError(f'top_fraction_mask: fraction must be in [0, 1], '
                         f'got {fraction!r}.')
    is_torch = isinstance(scda_map, torch.Tensor)
    arr = (scda_map.detach().cpu().float().numpy()
           if is_torch else np.asarray(scda_map, dtype=np.float64))
    if arr.ndim < 2:
        raise ValueError(f'top_fraction_mask: scda_map needs at least 2 dims '
                         f'(h, w), got shape {arr.shape}.')
    h, w = arr.shape[-2:]
    k = int(math.floor(fraction * h * w + 0.5))  # round half up
    flat = arr.reshape(-1, h * w)
    # Stable sort of -value keeps raster order among ties; NaN sorts last.
    order = np.argsort(-np.nan_to_num(flat, nan=-np.inf), axis=1,
                       kind='stable')
    mask = np.zeros(flat.shape, dtype=bool)
    np.put_along_axis(mask, order[:, :k], True, axis=1)
    mask = mask.reshape(arr.shape)
    return torch.from_numpy(mask).to(scda_map.device) if is_torch else mask
