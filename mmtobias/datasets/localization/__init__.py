# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""Datasets with boxes for SCDA localization (CorLoc)."""
from .base_box_dataset import BaseBoxDataset, parse_voc_xml
from .coco import COCOBoxDataset
from .cub import CUBBoxDataset
from .voc import VOCBoxDataset
from .xml_folder import ImageNetBoxDataset, XMLFolderBoxDataset

__all__ = [
    'BaseBoxDataset', 'parse_voc_xml', 'COCOBoxDataset', 'CUBBoxDataset',
    'VOCBoxDataset', 'ImageNetBoxDataset', 'XMLFolderBoxDataset'
]
