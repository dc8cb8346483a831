# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""ResNet with the random-CNN ablations of the Tobias paper (Tables 1-2)."""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet

from .ablation_utils import (ACTIVATIONS, check_choice,
                             load_backbone_checkpoint, replace_relu,
                             seeded_build)

__all__ = ['SCDAResNet']


class _BottleneckNoSkip(Bottleneck):
    """Bottleneck without the identity shortcut (Table 2 row 2)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.relu(self.bn3(self.conv3(out)))


class _BasicBlockNoSkip(BasicBlock):
    """BasicBlock without the identity shortcut."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)))


def _no_norm(num_features: int) -> nn.Module:
    return nn.Identity()


@MODELS.register_module()
class SCDAResNet(BaseModule):
    """A torchvision ResNet (``weights=None``) configurable for SCDA ablations.

    Parameter names follow torchvision's ResNet, which are also mmpretrain's
    ``ResNet`` names, so ``backbone.*`` weights of an mmpretrain / mmselfsup
    checkpoint (e.g. MoCo v2) load directly. The network is built in eval
    mode: with random weights the BN layers use their initial running
    statistics (mean 0, var 1), as in the paper.

    Args:
        depth (int): 18, 34, 50, 101 or 152. Defaults to 50.
        stage_blocks (Sequence[int], optional): Blocks per stage, e.g.
            ``(1, 1, 1, 1)`` / ``(1, 2, 3, 1)`` / ``(6, 8, 12, 6)`` (Table 2
            rows 4-6). None uses the depth's standard counts. Defaults to None.
        num_stages (int): Stages kept, counted as in the paper: 1 = 'conv1'
            (stem conv + BN + activation, stride 2, before the max-pool),
            2 = 'conv1-2' (+ max-pool + layer1), ..., 5 = the full network
            up to layer4. Defaults to 5.
        layer4_stride (int): Stride of layer4's first block; 1 gives a 14x14
            map at 224 (the evaluation network of SPEC section 5), 2 the
            standard 7x7. Defaults to 1.
        activation (str): Replaces every ReLU: one of 'relu', 'sigmoid',
            'arctan', 'tanh', 'elu', 'selu', 'softplus'. Defaults to 'relu'.
        with_bn (bool): False replaces every BN by identity (Table 2 row 3).
            Defaults to True.
        with_skip (bool): False removes the identity shortcuts (and the
            projection shortcuts) of every block (Table 2 row 2).
            Defaults to True.
        init (str): 'kaiming' (torchvision's default ResNet init), 'uniform'
            (U(-0.1, 0.1)), 'normal' (N(0, 0.1)), 'xavier' or 'torchvision'
            (the constructor's own init). Ignored when ``checkpoint`` is
            given. Defaults to 'kaiming'.
        seed (int, optional): Seed of the random weights; None draws from
            the global RNG. Defaults to 0.
        checkpoint (str, optional): Load these weights instead of random
            ones. Defaults to None.
        checkpoint_prefix (str): Key prefix of the backbone inside the
            checkpoint ('backbone.' for mmpretrain / mmselfsup, '' for a
            torchvision file). Defaults to 'backbone.'.
        init_cfg (dict, optional): Unused (weights are set at construction);
            kept for the ``BaseModule`` interface. Defaults to None.
    """

    DEPTHS = {18: (BasicBlock, (2, 2, 2, 2)), 34: (BasicBlock, (3, 4, 6, 3)),
              50: (Bottleneck, (3, 4, 6, 3)), 101: (Bottleneck, (3, 4, 23, 3)),
              152: (Bottleneck, (3, 8, 36, 3))}

    def __init__(self,
                 depth: int = 50,
                 stage_blocks: Optional[Sequence[int]] = None,
                 num_stages: int = 5,
                 layer4_stride: int = 1,
                 activation: str = 'relu',
                 with_bn: bool = True,
                 with_skip: bool = True,
                 init: str = 'kaiming',
                 seed: Optional[int] = 0,
                 checkpoint: Optional[str] = None,
                 checkpoint_prefix: str = 'backbone.',
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        check_choice('depth', depth, tuple(self.DEPTHS))
        check_choice('num_stages', num_stages, (1, 2, 3, 4, 5))
        check_choice('layer4_stride', layer4_stride, (1, 2))
        check_choice('activation', activation, ACTIVATIONS)
        block, default_blocks = self.DEPTHS[depth]
        if stage_blocks is None:
            stage_blocks = default_blocks
        stage_blocks = tuple(stage_blocks)
        if len(stage_blocks) != 4 or not all(
                isinstance(b, int) and b >= 1 for b in stage_blocks):
            raise ValueError(f'stage_blocks={stage_blocks!r} must be 4 '
                             f'positive ints, e.g. (3, 4, 6, 3) (config field '
                             f'model.backbone.stage_blocks).')
        if not with_skip:
            block = (_BottleneckNoSkip
                     if block is Bottleneck else _BasicBlockNoSkip)
        self.depth, self.stage_blocks = depth, stage_blocks
        self.num_stages, self.layer4_stride = num_stages, layer4_stride
        self.activation, self.with_bn, self.with_skip = (activation, with_bn,
                                                         with_skip)
        self.init, self.seed, self.checkpoint = init, seed, checkpoint

        def factory() -> nn.Module:
            return ResNet(block, list(stage_blocks),
                          norm_layer=nn.BatchNorm2d if with_bn else _no_norm)

        net = seeded_build(factory, 'torchvision' if checkpoint else init,
                           seed)
        if not with_skip:
            for layer in (net.layer1, net.layer2, net.layer3, net.layer4):
                for blk in layer:
                    blk.downsample = None
        if layer4_stride == 1:
            first = net.layer4[0]
            (first.conv2 if block in (Bottleneck, _BottleneckNoSkip) else
             first.conv1).stride = (1, 1)
            if first.downsample is not None:
                first.downsample[0].stride = (1, 1)
        replace_relu(net, activation)
        # Keep torchvision's attribute names (checkpoint compatibility).
        self.conv1, self.bn1, self.relu = net.conv1, net.bn1, net.relu
        self.stage_names = ['layer1', 'layer2', 'layer3',
                            'layer4'][:num_stages - 1]
        if num_stages > 1:
            self.maxpool = net.maxpool
        for name in self.stage_names:
            setattr(self, name, getattr(net, name))
        if checkpoint is not None:
            load_backbone_checkpoint(self, checkpoint, checkpoint_prefix)
        self.requires_grad_(False)
        self.eval()

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor]:
        # x: N x 3 x H x W -> (N x C x h x w, ) the last kept stage
        x = self.relu(self.bn1(self.conv1(x)))
        if self.num_stages > 1:
            x = self.maxpool(x)
        for name in self.stage_names:
            x = getattr(self, name)(x)
        return (x, )

    def init_weights(self) -> None:
        """No-op: weights are drawn (or loaded) at construction, seeded, so
        a Runner calling ``init_weights`` cannot silently redraw them."""
