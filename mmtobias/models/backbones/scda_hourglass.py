# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""A randomly initialised hourglass network for SCDA (Tobias Table 2 row 21).

The paper cites the hourglass of Deep Image Prior (Ulyanov et al. 2018): an
encoder-decoder with skip connections. The released localization code builds
it as a U-Net (``UNet(n_channels=3, n_classes=1000, bilinear=True)`` whose
``forward`` returns the last decoder map, not the 1x1 output conv): four
max-pool / double-conv levels down, four bilinear-upsample / concatenate /
double-conv levels up, so the SCDA map has the input's resolution (64 x 224 x
224 at 224). Plain PyTorch: no mmdet import.
"""
from typing import List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS

from .ablation_utils import (ACTIVATIONS, build_activation, check_choice,
                             load_backbone_checkpoint, seeded_build)

__all__ = ['SCDAHourglass']

UPSAMPLE = ('bilinear', 'nearest')


class _DoubleConv(nn.Sequential):
    """(3x3 conv -> BN -> activation) x 2; the convs keep their bias."""

    def __init__(self, in_channels: int, out_channels: int,
                 mid_channels: int, activation: str, with_bn: bool):
        layers = []
        for cin, cout in ((in_channels, mid_channels),
                          (mid_channels, out_channels)):
            layers += [nn.Conv2d(cin, cout, 3, padding=1),
                       nn.BatchNorm2d(cout) if with_bn else nn.Identity(),
                       build_activation(activation)]
        super().__init__(*layers)


class _Trunk(nn.Module):
    """Encoder (``encoder[0]`` at full resolution, then one max-pool and a
    double conv per level) and decoder (upsample, concatenate the encoder map
    of the same resolution, double conv)."""

    def __init__(self, base_channels: int, num_levels: int, upsample: str,
                 activation: str, with_bn: bool):
        super().__init__()
        c = base_channels
        # encoder widths: c, 2c, ..., and the bottom level halved, so that the
        # bottom map and the skip it meets have the same width
        enc = [c * 2**i for i in range(num_levels)] + [c * 2**(num_levels - 1)]
        self.encoder = nn.ModuleList(
            [_DoubleConv(3, c, c, activation, with_bn)] +
            [_DoubleConv(enc[i - 1], enc[i], enc[i], activation, with_bn)
             for i in range(1, num_levels + 1)])
        self.decoder = nn.ModuleList()
        prev = enc[num_levels]
        for level in reversed(range(num_levels)):
            cin = prev + enc[level]
            cout = enc[level] // 2 if level > 0 else c
            self.decoder.append(
                _DoubleConv(cin, cout, cin // 2, activation, with_bn))
            prev = cout
        self.out_channels = c
        self.upsample = upsample

    def _up(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        if self.upsample == 'bilinear':
            x = F.interpolate(x, scale_factor=2, mode='bilinear',
                              align_corners=True)
        else:
            x = F.interpolate(x, scale_factor=2, mode='nearest')
        # odd sizes: pad the upsampled map to the skip's size (centred)
        dy, dx = skip.shape[2] - x.shape[2], skip.shape[3] - x.shape[3]
        if dy or dx:
            x = F.pad(x, [dx // 2, dx - dx // 2, dy // 2, dy - dy // 2])
        return torch.cat([skip, x], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips: List[torch.Tensor] = []
        for i, block in enumerate(self.encoder):
            x = block(x if i == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        x = skips.pop()
        for block in self.decoder:
            x = block(self._up(x, skips.pop()))
        return x


@MODELS.register_module()
class SCDAHourglass(BaseModule):
    """Hourglass (U-Net-style encoder-decoder with skips) for SCDA ablations.

    Built in eval mode with random weights: the BN layers use their initial
    running statistics, as for every random SCDA backbone here. The output is
    the last decoder map, ``N x base_channels x H x W`` (the input's size),
    returned as a one-tuple like the other SCDA backbones. Each level halves
    the resolution, so ``H`` and ``W`` should be at least ``2**num_levels``.

    Args:
        base_channels (int): Width of the full-resolution levels; level ``i``
            has ``base_channels * 2**i`` channels. Defaults to 64 (released).
        num_levels (int): Number of 2x down-samplings (and up-samplings).
            Defaults to 4 (released).
        upsample (str): 'bilinear' (``align_corners=True``, released) or
            'nearest'. Defaults to 'bilinear'.
        activation (str): One of 'relu', 'sigmoid', 'arctan', 'tanh', 'elu',
            'selu', 'softplus'. Defaults to 'relu'.
        with_bn (bool): False replaces every BN by identity.
            Defaults to True.
        init (str): 'torchvision' (PyTorch's default layer init, which the
            released U-Net keeps), 'kaiming', 'uniform', 'normal' or
            'xavier'. Ignored when ``checkpoint`` is given.
            Defaults to 'torchvision'.
        seed (int, optional): Seed of the random weights; None draws from the
            global RNG. Defaults to 0.
        checkpoint (str, optional): Load these weights instead of random
            ones. Defaults to None.
        checkpoint_prefix (str): Key prefix of the backbone inside the
            checkpoint. Defaults to 'backbone.'.
        init_cfg (dict, optional): Unused. Defaults to None.
    """

    def __init__(self,
                 base_channels: int = 64,
                 num_levels: int = 4,
                 upsample: str = 'bilinear',
                 activation: str = 'relu',
                 with_bn: bool = True,
                 init: str = 'torchvision',
                 seed: Optional[int] = 0,
                 checkpoint: Optional[str] = None,
                 checkpoint_prefix: str = 'backbone.',
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        for arg, val in (('base_channels', base_channels),
                         ('num_levels', num_levels)):
            if isinstance(val, bool) or not isinstance(val, int) or val < 1:
                raise ValueError(f'{arg}={val!r} must be a positive int '
                                 f'(config field model.backbone.{arg}).')
        if base_channels % 2:
            raise ValueError(f'base_channels={base_channels!r} must be even: '
                             f'the decoder halves the widths (config field '
                             f'model.backbone.base_channels).')
        check_choice('upsample', upsample, UPSAMPLE)
        check_choice('activation', activation, ACTIVATIONS)
        self.base_channels, self.num_levels = base_channels, num_levels
        self.upsample, self.activation, self.with_bn = (upsample, activation,
                                                        with_bn)
        self.init, self.seed, self.checkpoint = init, seed, checkpoint

        def factory() -> nn.Module:
            return _Trunk(base_channels, num_levels, upsample, activation,
                          with_bn)

        self.trunk = seeded_build(factory,
                                  'torchvision' if checkpoint else init, seed)
        if checkpoint is not None:
            load_backbone_checkpoint(self, checkpoint, checkpoint_prefix)
        self.requires_grad_(False)
        self.eval()

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor]:
        # x: N x 3 x H x W -> (N x base_channels x H x W, )
        return (self.trunk(x), )

    def init_weights(self) -> None:
        """No-op: weights are drawn (or loaded) at construction, seeded."""
