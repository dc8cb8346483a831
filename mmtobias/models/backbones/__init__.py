# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
from .scda_hourglass import SCDAHourglass
from .scda_resnet import SCDAResNet
from .scda_torchvision_net import SCDATorchvisionNet

__all__ = ['SCDAHourglass', 'SCDAResNet', 'SCDATorchvisionNet']
