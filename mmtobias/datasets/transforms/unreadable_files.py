# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""Which image files this process found unreadable, and why.

Every loader of the training data (the sample's load step
:class:`~mmtobias.datasets.transforms.SafeLoadImageFromFile`, the donors of
``BackgroundSwap`` / ``CopyPaste`` through
:func:`~mmtobias.datasets.transforms.load_image_at`, InsLoc's backgrounds)
records here the files that do not decode. A file is then warned about once
per process and never decoded twice: a known file is skipped at the cost of a
dictionary lookup. DataLoader workers forked after the main process recorded a
file (see :class:`~mmtobias.engine.hooks.SkippedFilesLogger`) inherit it.

A file is either ``'unreadable'`` (nothing decodes: empty, not an image,
corrupt header) or ``'truncated'`` (the first part decodes, the rest is
missing); each loader decides what to do with the second kind.
"""
import io
import os.path as osp
from typing import Dict, Optional, Tuple

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

__all__ = [
    'UNREADABLE', 'TRUNCATED', 'record_unreadable', 'unreadable_kind',
    'any_unreadable',
    'clear_unreadable', 'describe_error', 'diagnose', 'diagnose_file',
    'pil_to_array', 'pillow_decode',
    'jpeg_lacks_end_marker'
]

UNREADABLE = 'unreadable'
TRUNCATED = 'truncated'

# normalised path -> (kind, reason), for this process only
_FILES: Dict[str, Tuple[str, str]] = {}


def _key(path: str) -> str:
    # URLs of remote backends stay as they are; local paths are made absolute
    # so that 'data/x.jpg' and '/abs/data/x.jpg' are one file.
    return path if '://' in path else osp.abspath(path)


def record_unreadable(path: str, kind: str, reason: str) -> bool:
    """Remember that ``path`` does not decode; True the first time.

    The caller logs its warning only when this returns True, so that every
    file is named once per process however often it is drawn.
    """
    if kind not in (UNREADABLE, TRUNCATED):
        raise ValueError(f'kind must be {UNREADABLE!r} or {TRUNCATED!r}, '
                         f'got {kind!r}.')
    key = _key(path)
    if key in _FILES:
        return False
    _FILES[key] = (kind, reason)
    return True


def any_unreadable() -> bool:
    """Whether this process recorded any file."""
    return bool(_FILES)


def unreadable_kind(path: str) -> Optional[str]:
    """``'unreadable'``, ``'truncated'`` or None if not recorded."""
    if not _FILES:  # fast path: nothing recorded (the usual case)
        return None
    entry = _FILES.get(_key(path))
    return None if entry is None else entry[0]


def clear_unreadable() -> None:
    """Forget every recorded file (for tests, or after repairing files)."""
    _FILES.clear()


def describe_error(err: BaseException, data: Optional[bytes] = None) -> str:
    """A short reason for a decoding failure, fit for a warning."""
    if data is not None and len(data) == 0:
        return 'empty file (0 bytes)'
    if isinstance(err, UnidentifiedImageError):
        head = '' if data is None else f', starts with {data[:16]!r}'
        return f'not an image file Pillow or OpenCV can read{head}'
    return f'{type(err).__name__}: {err}'


def pil_to_array(im: Image.Image, mode: str = 'RGB') -> np.ndarray:
    """``im`` as uint8 ``H x W x 3`` ('RGB') or ``H x W`` ('L').

    Like ``im.convert(mode)``, except for 16-bit grey images, which
    ``convert`` clips to 0 / 255: they keep their high byte, as OpenCV does.
    """
    if im.mode == 'I' or im.mode.startswith('I;16'):
        gray = (np.asarray(im).astype(np.uint32) >> 8).clip(0, 255)
        gray = gray.astype(np.uint8)
        return gray if mode == 'L' else np.repeat(gray[..., None], 3, axis=2)
    return np.asarray(im.convert(mode))


def pillow_decode(data: bytes,
                  allow_truncated: bool = False,
                  exif_transpose: bool = False) -> np.ndarray:
    """Decode ``data`` with Pillow to BGR uint8 ``H x W x 3``.

    Raises when the file does not decode fully, unless ``allow_truncated``
    (then the missing part is grey, as Pillow fills it). 16-bit grey images
    keep their high byte (:func:`pil_to_array`). ``exif_transpose``
    applies the EXIF orientation, as OpenCV (and so mmcv's
    ``LoadImageFromFile``) does.
    """
    prev = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = allow_truncated
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            if exif_transpose:
                im = ImageOps.exif_transpose(im)
            rgb = pil_to_array(im, 'RGB')
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = prev
    return np.ascontiguousarray(rgb[..., ::-1])


def diagnose(data: bytes) -> Optional[Tuple[str, str]]:
    """``(kind, reason)`` of a file that failed to decode, Pillow deciding;
    None when Pillow decodes it fully."""
    if len(data) == 0:
        return UNREADABLE, describe_error(OSError(), data)
    try:
        pillow_decode(data)
    except Exception as err:  # noqa: BLE001  (any decoder failure)
        try:
            pillow_decode(data, allow_truncated=True)
        except Exception:  # noqa: BLE001
            return UNREADABLE, describe_error(err, data)
        return TRUNCATED, describe_error(err, data)
    return None


def diagnose_file(path: str, err: BaseException) -> Tuple[str, str]:
    """``(kind, reason)`` of a local file whose decoding raised ``err``."""
    try:
        with open(path, 'rb') as f:
            data = f.read()
    except OSError as read_err:
        return UNREADABLE, f'cannot be read ({describe_error(read_err)})'
    return diagnose(data) or (UNREADABLE, describe_error(err, data))


def jpeg_lacks_end_marker(head: bytes, tail: bytes) -> bool:
    """True for a JPEG whose last bytes are not the end-of-image marker.

    A complete JPEG stream ends with ``FF D9``; a file cut short ends in the
    middle of the compressed data (OpenCV then decodes the first part without
    an error and greys the rest). Padding after the marker (zeros, a newline)
    is allowed. A few complete files carry other data after the marker (e.g.
    "motion photos"): callers verify a True answer with Pillow.
    """
    if head[:3] != b'\xff\xd8\xff':
        return False
    return not tail.rstrip(b'\x00\r\n \t').endswith(b'\xff\xd9')
