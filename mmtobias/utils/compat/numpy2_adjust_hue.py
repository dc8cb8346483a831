# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""mmcv's ``adjust_hue`` (mmpretrain's ColorJitter) under numpy 2.

What breaks: mmcv computes the hue shift as ``np.uint8(hue_factor * 255)``; for a
negative ``hue_factor`` numpy 1 wrapped it around (modulo 256) and numpy 2 raises
``OverflowError``, which kills
mmpretrain's ColorJitter (every MoCo / SimCLR pipeline) at its first negative draw.

Versions: mmcv 2.x (checked: 2.0.1, ``mmcv/image/photometric.py``) under numpy >= 2.

The fix: ``adjust_hue`` of ``mmcv``, ``mmcv.image`` and ``mmcv.image.photometric`` is
replaced by :func:`_adjust_hue_modular`, the same function with the shift done modulo
256, as numpy 1 did, whatever numpy is installed (so the results match numpy 1's
bit for bit); mmcv's own function is kept in ``_ORIGINAL_ADJUST_HUE``.

Detected / tested: applied unconditionally (identical results under numpy 1).
``tests/test_utils/test_compat.py::test_adjust_hue_negative_factor_under_numpy2_rules``
runs mmcv's function and the fix with numpy 2's uint8 rule (both backends).
"""
import numpy as np

from ._applied import apply_once

__all__ = ['fix_numpy2_adjust_hue']

_ORIGINAL_ADJUST_HUE = None  # mmcv's own adjust_hue, kept for tests


def _adjust_hue_modular(img, hue_factor, backend=None):
    """mmcv.adjust_hue with the hue shift done modulo 256 (numpy-version independent)."""
    import cv2
    from mmcv.image import io as mmcv_io
    from PIL import Image

    if backend is None:
        backend = mmcv_io.imread_backend
    if backend not in ['cv2', 'pillow']:
        raise ValueError(f'backend: {backend} is not supported. '
                         "Supported backends are 'cv2', 'pillow'")
    if not (-0.5 <= hue_factor <= 0.5):
        raise ValueError(f'hue_factor:{hue_factor} is not in [-0.5, 0.5].')
    if not (isinstance(img, np.ndarray) and (img.ndim in {2, 3})):
        raise TypeError('img should be ndarray with dim=[2 or 3].')
    # What np.uint8(negative float) gave under numpy 1: C truncation, then mod 256.
    shift = np.uint8(int(hue_factor * 255) % 256)

    if backend == 'pillow':
        if img.dtype != np.uint8:
            raise TypeError('the pillow backend of adjust_hue supports uint8 images only')
        pil_image = Image.fromarray(img[..., ::-1], mode='RGB')
        input_mode = pil_image.mode
        h, s, v = pil_image.convert('HSV').split()
        np_h = np.array(h, dtype=np.uint8)
        np_h += shift  # uint8 addition wraps around the hue circle
        h = Image.fromarray(np_h, 'L')
        pil_image = Image.merge('HSV', (h, s, v)).convert(input_mode)
        return np.array(pil_image, dtype=img.dtype)[..., ::-1]
    dtype = img.dtype
    hsv_img = cv2.cvtColor(img.astype(np.uint8), cv2.COLOR_BGR2HSV_FULL)
    h, s, v = cv2.split(hsv_img)
    h = h.astype(np.uint8)
    h += shift
    hsv_img = cv2.merge([h, s, v])
    return cv2.cvtColor(hsv_img, cv2.COLOR_HSV2BGR_FULL).astype(dtype)


@apply_once
def fix_numpy2_adjust_hue():
    """Replace mmcv's ``adjust_hue`` (keeping it in ``_ORIGINAL_ADJUST_HUE``)."""
    import mmcv
    import mmcv.image
    import mmcv.image.photometric as photometric

    global _ORIGINAL_ADJUST_HUE
    _ORIGINAL_ADJUST_HUE = photometric.adjust_hue
    for namespace in (mmcv, mmcv.image, photometric):
        namespace.adjust_hue = _adjust_hue_modular
