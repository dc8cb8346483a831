# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
from . import transforms  # noqa: F401  (registers into mmpretrain's TRANSFORMS)
from . import localization  # noqa: F401  (box datasets for SCDA CorLoc)
from .insloc_dataset import InsLocDataset

__all__ = ['InsLocDataset']
