# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
from .scda_box import (binarize_map, largest_component, mask_to_box,
                       scda_box)
from .scda_localizer import SCDALocalizer
from .scda_vis import draw_scda_overlay

__all__ = [
    'SCDALocalizer', 'binarize_map', 'largest_component', 'mask_to_box',
    'scda_box', 'draw_scda_overlay'
]
