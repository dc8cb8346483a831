# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
from .tobias_mask_generator import TobiasMaskGenerator

__all__ = ['TobiasMaskGenerator']
