# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""SCDA map -> box: binarise, keep the largest connected component, upsample,
take the bounding box (SPEC section 5). Plain functions on one map."""
from typing import Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from mmtobias.scda.core import top_fraction_mask

__all__ = [
    'THRESHOLDS', 'UPSAMPLE_MODES', 'binarize_map', 'largest_component',
    'mask_to_box', 'scda_box'
]

THRESHOLDS = ('mean', 'median', 'topk')
UPSAMPLE_MODES = ('nearest', 'bilinear')


def binarize_map(amap: np.ndarray,
                 threshold: str = 'mean',
                 topk_fraction: float = 0.5) -> np.ndarray:
    """Foreground cells of an ``h x w`` aggregation map.

    'mean' keeps ``A > mean(A)`` (SCDA), 'median' keeps ``A > median(A)``
    (strict, so ties at the median are background), 'topk' keeps the
    ``round(topk_fraction * h * w)`` largest cells (the Tobias mask rule).
    """
    amap = np.asarray(amap, dtype=np.float64)
    if threshold == 'mean':
        return amap > amap.mean()
    if threshold == 'median':
        return amap > np.median(amap)
    if threshold == 'topk':
        return top_fraction_mask(amap, topk_fraction)
    raise ValueError(f'threshold={threshold!r} is not supported; choose one '
                     f'of {THRESHOLDS}.')


def largest_component(mask: np.ndarray, connectivity: int = 8) -> np.ndarray:
    """The largest connected component of a 2-D bool mask.

    8-connectivity (a 3x3 structure) is ``skimage.measure.label``'s default
    for 2-D images; 4 is available. Ties in size go to the component whose
    first cell comes first in raster order. An empty mask stays empty.
    """
    if connectivity not in (4, 8):
        raise ValueError(f'connectivity={connectivity!r} must be 4 or 8.')
    structure = (np.ones((3, 3), dtype=bool) if connectivity == 8 else
                 ndimage.generate_binary_structure(2, 1))
    labels, num = ndimage.label(mask, structure=structure)
    if num <= 1:
        return labels > 0
    sizes = np.bincount(labels.ravel())[1:]
    return labels == (int(np.argmax(sizes)) + 1)


def mask_to_box(mask: np.ndarray, out_size: Tuple[int, int],
                upsample: str = 'nearest') -> Optional[np.ndarray]:
    """Upsample a cell mask to ``out_size = (H, W)`` pixels and box it.

    Returns ``[x1, y1, x2, y2]`` (float32) in continuous pixel coordinates
    (pixel ``i`` spans ``[i, i + 1)``, so a box covering pixel columns
    ``c0 .. c1`` is ``[c0, c1 + 1)``), or None if the upsampled mask is
    empty. 'bilinear' upsamples the 0/1 mask bilinearly and keeps > 0.5.
    """
    if upsample not in UPSAMPLE_MODES:
        raise ValueError(f'upsample={upsample!r} is not supported; choose '
                         f'one of {UPSAMPLE_MODES}.')
    t = torch.from_numpy(np.ascontiguousarray(mask, dtype=np.float32))
    if upsample == 'nearest':
        up = F.interpolate(t[None, None], size=tuple(out_size),
                           mode='nearest')[0, 0] > 0.5
    else:
        up = F.interpolate(t[None, None], size=tuple(out_size),
                           mode='bilinear', align_corners=False)[0, 0] > 0.5
    rows = torch.nonzero(up.any(dim=1)).flatten()
    cols = torch.nonzero(up.any(dim=0)).flatten()
    if rows.numel() == 0:
        return None
    return np.array([cols[0], rows[0], cols[-1] + 1, rows[-1] + 1],
                    dtype=np.float32)


def scda_box(amap: np.ndarray,
             out_size: Tuple[int, int],
             threshold: str = 'mean',
             topk_fraction: float = 0.5,
             connectivity: Optional[int] = 8,
             upsample: str = 'nearest') -> Tuple[np.ndarray, np.ndarray, bool]:
    """The SCDA box of one ``h x w`` aggregation map.

    Args:
        amap (np.ndarray): ``h x w`` channel-sum map.
        out_size (tuple[int, int]): ``(H, W)`` of the input image.
        threshold (str): See :func:`binarize_map`. Defaults to 'mean'.
        topk_fraction (float): Fraction for 'topk'. Defaults to 0.5.
        connectivity (int, optional): 8 or 4 for the largest component,
            None to keep every foreground cell. Defaults to 8.
        upsample (str): 'nearest' or 'bilinear'. Defaults to 'nearest'.

    Returns:
        tuple: ``(box, mask, fallback)``: the ``[x1, y1, x2, y2]`` box in
        input pixels, the ``h x w`` bool mask it came from, and whether the
        mask was empty so the whole image ``[0, 0, W, H]`` was returned.
    """
    mask = binarize_map(amap, threshold, topk_fraction)
    if connectivity is not None:
        mask = largest_component(mask, connectivity)
    box = mask_to_box(mask, out_size, upsample)
    if box is None:
        h, w = out_size
        return np.array([0, 0, w, h], dtype=np.float32), mask, True
    return box, mask, False
