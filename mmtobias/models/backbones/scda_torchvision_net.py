# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""VGG / AlexNet / Inception v3 convolutional trunks for SCDA (Table 2)."""
from typing import Optional, Tuple

import torch
import torch.nn as nn
import torchvision
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS

from .ablation_utils import (ACTIVATIONS, check_choice,
                             load_backbone_checkpoint, replace_relu,
                             seeded_build)

__all__ = ['SCDATorchvisionNet']

_VGG = ('vgg11', 'vgg13', 'vgg16', 'vgg19', 'vgg11_bn', 'vgg13_bn',
        'vgg16_bn', 'vgg19_bn')
# Inception v3 children that form the convolutional trunk, in forward order.
_INCEPTION_TRUNK = ('Conv2d_1a_3x3', 'Conv2d_2a_3x3', 'Conv2d_2b_3x3',
                    'maxpool1', 'Conv2d_3b_1x1', 'Conv2d_4a_3x3', 'maxpool2',
                    'Mixed_5b', 'Mixed_5c', 'Mixed_5d', 'Mixed_6a', 'Mixed_6b',
                    'Mixed_6c', 'Mixed_6d', 'Mixed_6e', 'Mixed_7a', 'Mixed_7b',
                    'Mixed_7c')


@MODELS.register_module()
class SCDATorchvisionNet(BaseModule):
    """The convolutional trunk of a torchvision VGG, AlexNet or Inception v3.

    VGG and AlexNet keep ``features`` up to and including the last max-pool
    ('pool5', the layer SCDA uses: 7x7 / 6x6 at 224); Inception v3 keeps
    ``Conv2d_1a_3x3`` ... ``Mixed_7c`` (5x5 at 224). Parameters keep the
    torchvision names (``features.0.weight`` ...), so a torchvision file loads
    with ``checkpoint_prefix=''``.

    Args:
        arch (str): 'vgg11', 'vgg13', 'vgg16', 'vgg19' (optionally '_bn'),
            'alexnet' or 'inception_v3'.
        activation (str): Replaces every ReLU module (VGG / AlexNet only;
            Inception v3 applies ReLU functionally). Defaults to 'relu'.
        drop_last_pool (bool): Drop the final max-pool of VGG / AlexNet
            ('conv5' instead of 'pool5'). Defaults to False.
        init (str): 'torchvision' (each model's PyTorch model-zoo init: Kaiming
            fan_out for VGG, PyTorch's default for AlexNet, truncated normal
            for Inception v3), 'kaiming', 'uniform', 'normal' or 'xavier'.
            Defaults to 'torchvision'.
        seed (int, optional): Seed of the random weights. Defaults to 0.
        checkpoint (str, optional): Load these weights instead of random
            ones. Defaults to None.
        checkpoint_prefix (str): Key prefix inside the checkpoint.
            Defaults to 'backbone.'.
        init_cfg (dict, optional): Unused. Defaults to None.
    """

    ARCHS = _VGG + ('alexnet', 'inception_v3')

    def __init__(self,
                 arch: str,
                 activation: str = 'relu',
                 drop_last_pool: bool = False,
                 init: str = 'torchvision',
                 seed: Optional[int] = 0,
                 checkpoint: Optional[str] = None,
                 checkpoint_prefix: str = 'backbone.',
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        check_choice('arch', arch, self.ARCHS)
        check_choice('activation', activation, ACTIVATIONS)
        if arch == 'inception_v3' and (activation != 'relu' or drop_last_pool):
            raise ValueError(
                'arch=inception_v3 applies ReLU functionally inside its '
                'blocks and ends without a pool: activation must be "relu" '
                'and drop_last_pool False (config fields model.backbone.*).')
        self.arch, self.activation, self.init, self.seed = (arch, activation,
                                                            init, seed)
        self.checkpoint = checkpoint

        def factory() -> nn.Module:
            if arch == 'inception_v3':
                # Its own truncated-normal init is only needed when kept.
                return torchvision.models.inception_v3(
                    weights=None, aux_logits=False,
                    init_weights=(init == 'torchvision' and not checkpoint))
            return getattr(torchvision.models, arch)(weights=None)

        net = seeded_build(factory, 'torchvision' if checkpoint else init,
                           seed)
        if arch == 'inception_v3':
            for name in _INCEPTION_TRUNK:
                setattr(self, name, getattr(net, name))
            self.trunk_names = list(_INCEPTION_TRUNK)
        else:
            layers = list(net.features.children())
            if drop_last_pool:
                layers = layers[:-1]
            self.features = nn.Sequential(*layers)
            replace_relu(self.features, activation)
            self.trunk_names = ['features']
        if checkpoint is not None:
            load_backbone_checkpoint(self, checkpoint, checkpoint_prefix)
        self.requires_grad_(False)
        self.eval()

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor]:
        # x: N x 3 x H x W -> (N x C x h x w, )
        for name in self.trunk_names:
            x = getattr(self, name)(x)
        return (x, )

    def init_weights(self) -> None:
        """No-op: weights are drawn (or loaded) at construction."""
