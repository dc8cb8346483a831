# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""The shared RoI head of InsLoc R50-FPN: 4 conv, 2 fc, an embedding fc."""
from typing import List, Optional, Union

import torch
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from torch import nn

from mmpretrain.registry import MODELS

__all__ = ['InsLocBoxHead']


@MODELS.register_module()
class InsLocBoxHead(BaseModule):
    """RoI features to an embedding, shared by all FPN levels.

    The layout of mmdet's ``Shared4Conv1FCBBoxHead`` trunk with two fcs
    (``convs.{0..3}``: conv3x3 + norm + ReLU; ``fcs.{0,1}``: Linear + ReLU),
    followed by ``fc_out`` to the contrastive embedding. After pretraining,
    ``convs`` and ``fcs.0`` initialise a detector's box head.

    Args:
        in_channels (int): Channels of the RoI features. Defaults to 256.
        roi_size (int): Side of the RoI features. Defaults to 7.
        num_convs (int): Number of conv3x3 layers. Defaults to 4.
        conv_channels (int): Their output channels. Defaults to 256.
        num_fcs (int): Number of hidden fcs. Defaults to 2.
        fc_channels (int): Their output channels. Defaults to 1024.
        out_channels (int): Embedding dimension. Defaults to 128.
        norm_cfg (dict, optional): Norm of the convs. Defaults to
            ``dict(type='BN')``.
        init_cfg (dict | list[dict], optional): Initialization config.
            Defaults to None.
    """

    def __init__(self,
                 in_channels: int = 256,
                 roi_size: int = 7,
                 num_convs: int = 4,
                 conv_channels: int = 256,
                 num_fcs: int = 2,
                 fc_channels: int = 1024,
                 out_channels: int = 128,
                 norm_cfg: Optional[dict] = None,
                 init_cfg: Optional[Union[dict, List[dict]]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        norm_cfg = dict(type='BN') if norm_cfg is None else norm_cfg
        self.convs = nn.ModuleList(
            ConvModule(
                in_channels if i == 0 else conv_channels,
                conv_channels,
                3,
                padding=1,
                norm_cfg=norm_cfg) for i in range(num_convs))
        flat = (conv_channels if num_convs else in_channels) * roi_size**2
        self.fcs = nn.ModuleList(
            nn.Linear(flat if i == 0 else fc_channels, fc_channels)
            for i in range(num_fcs))
        self.fc_out = nn.Linear(fc_channels if num_fcs else flat,
                                out_channels)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: N x C x roi x roi RoI features -> N x out_channels."""
        for conv in self.convs:
            x = conv(x)
        x = x.flatten(1)
        for fc in self.fcs:
            x = self.relu(fc(x))
        return self.fc_out(x)
