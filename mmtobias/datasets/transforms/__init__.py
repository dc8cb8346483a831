# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
from .safe_load_image import SafeLoadImageFromFile
from .background_swap import BackgroundSwap, paste_cells
from .copy_paste import CopyPaste
from .donor_index import DonorIndex, load_first, load_image_at
from .insloc_composite import InsLocComposite
from .multi_view_with_boxes import MultiViewWithBoxes

__all__ = ['InsLocComposite', 'MultiViewWithBoxes',
           'SafeLoadImageFromFile', 'BackgroundSwap', 'paste_cells',
           'CopyPaste', 'DonorIndex', 'load_first', 'load_image_at']
