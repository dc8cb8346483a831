# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""Image loading that survives truncated / corrupt files, by name."""
from typing import List, Optional, Tuple

import mmcv
import mmengine.fileio as fileio
import numpy as np
from mmcv.transforms import BaseTransform
from mmengine.logging import MMLogger
from mmpretrain.registry import TRANSFORMS

from .unreadable_files import (TRUNCATED, UNREADABLE, describe_error,
                               diagnose, jpeg_lacks_end_marker, pillow_decode,
                               record_unreadable, unreadable_kind)

__all__ = ['SafeLoadImageFromFile']

DECODERS = ('pillow', 'cv2')
ON_ERROR = ('placeholder', 'skip')
ON_TRUNCATED = ('partial', 'skip')

Problem = Optional[Tuple[str, str]]  # (kind, reason) or None


def _decode_pillow(data: bytes) -> Tuple[Optional[np.ndarray], Problem]:
    try:
        return pillow_decode(data), None
    except Exception as err:  # noqa: BLE001  (any decoder failure)
        reason = describe_error(err, data)
    try:
        return pillow_decode(data, allow_truncated=True), (TRUNCATED, reason)
    except Exception as err:  # noqa: BLE001
        return None, (UNREADABLE, describe_error(err, data))


def _decode_cv2(data: bytes) -> Tuple[Optional[np.ndarray], Problem]:
    """mmcv's ``LoadImageFromFile`` decoding; Pillow only says what is wrong."""
    if len(data) == 0:  # cv2.imdecode raises '!buf.empty()' without the name
        return None, (UNREADABLE, describe_error(OSError(), data))
    try:
        img = mmcv.imfrombytes(data, flag='color', backend='cv2')
    except Exception:  # noqa: BLE001  (cv2.error on a corrupt buffer)
        img = None
    if img is not None and not jpeg_lacks_end_marker(data[:3], data[-64:]):
        return img, None
    problem = diagnose(data)
    if problem is None:  # complete after all (data after the JPEG end marker)
        if img is None:  # a file only Pillow reads: oriented as OpenCV would
            img = pillow_decode(data, exif_transpose=True)
        return img, None
    if problem[0] == TRUNCATED and img is None:
        img = pillow_decode(data, allow_truncated=True, exif_transpose=True)
    return img, problem


@TRANSFORMS.register_module()
class SafeLoadImageFromFile(BaseTransform):
    """Load an image, naming the files that do not decode fully.

    A file that does not decode is never fatal and never silently used. What
    happens to it is a policy of the dataset:

    - evaluation (``on_error='placeholder'``, ``truncated='partial'``, the
      defaults): the image is the part that decodes (the rest grey), or, if
      nothing decodes, a black image of the annotated size (``width`` /
      ``height`` of the data info) or ``fallback_size``; ``img_valid`` is
      False and metrics decide how such images count (see ``invalid`` of
      :class:`mmtobias.evaluation.metrics.SCDALocalization`).
    - pretraining (``on_error='skip'``, ``truncated='skip'``): the transform
      returns None and MMEngine's ``BaseDataset.__getitem__`` draws another
      sample (up to its ``max_refetch``, 1000 by default). A returned None is
      an error in ``test_mode`` datasets, so 'skip' is for training data only.

    Each file is named in one warning per process, with the reason (empty
    file, not an image, truncated, ...); a file drawn again (e.g. in the next
    epoch) is skipped without decoding it and without a warning, but still
    counted. The paths skipped before a sample are returned with it as
    ``skipped_files``: carry them with ``PackInputs(algorithm_keys=
    ['skipped_files'])`` and :class:`mmtobias.engine.hooks.SkippedFilesLogger`
    logs the count per epoch, also from DataLoader workers and DDP ranks.

    Two decoders:

    - 'pillow' (default): Pillow, the image in its stored orientation (as
      torchvision's loader; used by the SCDA evaluation of SPEC section 5).
    - 'cv2': exactly mmcv's ``LoadImageFromFile`` (``mmcv.imfrombytes``,
      flag 'color': EXIF orientation applied, 16-bit scaled to 8-bit,
      alpha dropped), so a pretraining config switched from
      ``LoadImageFromFile`` keeps its pixels. OpenCV decodes a JPEG cut short
      without an error; such files (no end-of-image marker) and files OpenCV
      rejects are checked with Pillow, which decides truncated / unreadable.

    **Required Keys:**

    - img_path
    - width, height (optional, for the placeholder of an unreadable file)

    **Added Keys:**

    - img (np.uint8, H x W x 3, BGR)
    - img_shape
    - ori_shape
    - img_valid (bool): False for a partly decoded image or a placeholder.
    - skipped_files (list[str]): files this process skipped since the
      previous sample it loaded (empty unless a policy is 'skip').

    Args:
        fallback_size (tuple[int, int]): ``(H, W)`` of the placeholder for an
            unreadable file without annotated size. Defaults to (224, 224).
        backend_args (dict, optional): mmengine file backend arguments.
            Defaults to None.
        decoder (str): 'pillow' or 'cv2', see above. Defaults to 'pillow'.
        on_error (str): For a file nothing of which decodes (or that cannot
            be read): 'placeholder' or 'skip'. Defaults to 'placeholder'.
        truncated (str): For a file that decodes only partly: 'partial'
            (keep the decodable part, ``img_valid=False``) or 'skip'.
            Defaults to 'partial'.
    """

    def __init__(self,
                 fallback_size: tuple = (224, 224),
                 backend_args: Optional[dict] = None,
                 decoder: str = 'pillow',
                 on_error: str = 'placeholder',
                 truncated: str = 'partial'):
        if len(tuple(fallback_size)) != 2:
            raise ValueError(f'fallback_size={fallback_size!r} must be '
                             f'(H, W).')
        for name, value, allowed in (('decoder', decoder, DECODERS),
                                     ('on_error', on_error, ON_ERROR),
                                     ('truncated', truncated, ON_TRUNCATED)):
            if value not in allowed:
                raise ValueError(
                    f'SafeLoadImageFromFile: {name}={value!r} is not one of '
                    f'{allowed}; use skip policies in training pipelines and '
                    f"'placeholder' / 'partial' in evaluation pipelines.")
        self.fallback_size = tuple(int(v) for v in fallback_size)
        self.backend_args = None if backend_args is None else dict(
            backend_args)
        self.decoder = decoder
        self.on_error = on_error
        self.truncated = truncated
        # Files skipped since the last loaded sample. BaseDataset re-fetches
        # in the same process right after a None, so they precede the next
        # sample this process returns.
        self._skipped: List[str] = []

    def _skips(self, kind: str) -> bool:
        if kind == UNREADABLE:
            return self.on_error == 'skip'
        return self.truncated == 'skip'

    def _skip(self, path: str, kind: str, reason: str) -> None:
        if record_unreadable(path, kind, reason):
            MMLogger.get_current_instance().warning(
                f'SafeLoadImageFromFile: skipping {path}: {reason}; another '
                f'sample is drawn (later draws of this file are skipped '
                f'silently and counted).')
        self._skipped.append(path)

    def transform(self, results: dict) -> Optional[dict]:
        path = results['img_path']
        known = unreadable_kind(path)
        if known is not None and self._skips(known):
            self._skipped.append(path)
            return None
        try:
            data = fileio.get(path, backend_args=self.backend_args)
        except Exception as err:  # noqa: BLE001  (missing, unreadable, ...)
            if self.on_error != 'skip':
                raise
            self._skip(path, UNREADABLE, f'cannot be read '
                       f'({describe_error(err)})')
            return None
        decode = _decode_cv2 if self.decoder == 'cv2' else _decode_pillow
        img, problem = decode(data)
        valid = problem is None
        if problem is not None:
            kind, reason = problem
            if self._skips(kind):
                self._skip(path, kind, reason)
                return None
            if img is None:
                h = int(results.get('height') or self.fallback_size[0])
                w = int(results.get('width') or self.fallback_size[1])
                img = np.zeros((h, w, 3), dtype=np.uint8)
                what = f'using a black {h}x{w} placeholder'
            else:
                what = 'using the decodable part'
            if record_unreadable(path, kind, reason):
                MMLogger.get_current_instance().warning(
                    f'{path} does not decode fully ({reason}); {what}, '
                    f'img_valid=False.')
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        results['img_valid'] = valid
        results['skipped_files'], self._skipped = self._skipped, []
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(fallback_size='
                f'{self.fallback_size}, backend_args={self.backend_args}, '
                f'decoder={self.decoder!r}, on_error={self.on_error!r}, '
                f'truncated={self.truncated!r})')
