# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
from . import metrics  # noqa: F401  (registers into mmpretrain's METRICS)
from .background_sensitivity import (background_sensitivity, box_mask,
                                     draw_donors, load_box_samples)
from .features import extract_features, gather_rows

__all__ = [
    'background_sensitivity', 'box_mask', 'draw_donors', 'extract_features', 'gather_rows',
    'load_box_samples'
]
