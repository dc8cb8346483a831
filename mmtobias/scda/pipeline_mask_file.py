# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""Point the transforms of a dataset's pipeline at the mask file.

A config sets the mask file once (its top-level ``mask_file``); the
transforms that read it (``BackgroundSwap``, ``CopyPaste``) may leave their own
``mask_file`` None, and :func:`fill_mask_file` sets it before any DataLoader
worker copies the dataset.
"""
import logging
import os.path as osp
from typing import List

from mmengine.logging import print_log

__all__ = ['fill_mask_file', 'mask_file_readers']

# Where datasets, wrappers and transform containers keep what they wrap:
# ConcatDataset.datasets, RepeatDataset.dataset, BaseDataset.pipeline,
# Compose / RandomApply / RandomChoice .transforms, MultiView.pipelines.
_CHILDREN = ('dataset', 'datasets', 'pipeline', 'transforms', 'pipelines')


def mask_file_readers(obj) -> List[object]:
    """The objects with a ``mask_file`` attribute under ``obj`` (a dataset,
    a dataset wrapper, a pipeline or a transform), in pipeline order."""
    found, seen = [], set()

    def visit(node):
        if node is None or id(node) in seen or isinstance(
                node, (str, bytes, int, float, dict)):
            return
        seen.add(id(node))
        if isinstance(node, (list, tuple)):
            for item in node:
                visit(item)
            return
        if hasattr(node, 'mask_file'):
            found.append(node)
        for name in _CHILDREN:
            visit(getattr(node, name, None))

    visit(obj)
    return found


def fill_mask_file(obj, mask_file: str, logger=None) -> List[object]:
    """Set ``mask_file`` on every transform under ``obj`` whose
    ``mask_file`` is None.

    A transform's own ``mask_file`` is kept (explicit wins), with a warning
    naming both files when it differs from ``mask_file``.

    Args:
        obj: A dataset, a dataset wrapper or a pipeline.
        mask_file (str): The mask file.
        logger (logging.Logger | str, optional): Defaults to None
            ('current').

    Returns:
        list: The transforms whose ``mask_file`` was set.
    """
    filled = []
    for reader in mask_file_readers(obj):
        own = reader.mask_file
        if own is None:
            reader.mask_file = mask_file
            filled.append(reader)
        elif osp.abspath(own) != osp.abspath(mask_file):
            print_log(f'{type(reader).__name__} reads its own mask_file '
                      f'{own}, not the mask file {mask_file} that the '
                      f'TobiasMaskGenerator hook makes for the training '
                      f'images; remove mask_file from the transform to use '
                      f'the hook\'s.', logger=logger or 'current',
                      level=logging.WARNING)
    return filled
