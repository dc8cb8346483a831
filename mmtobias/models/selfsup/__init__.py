# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
from .insloc import InsLoc
from .insloc_box_aug import AnchorBoxAugment

__all__ = ['InsLoc', 'AnchorBoxAugment']
