# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""Where the second image of a background transform comes from.

A pipeline transform only sees one sample, but ``BackgroundSwap``,
``CopyPaste`` and ``InsLocComposite`` need another image (the donor, or the
background). They share one mechanism, this module:

- *which* image: a small, picklable :class:`DonorIndex` held by the
  transform (instead of wrapping the dataset, so that every config still
  trains on any folder with
  ``--cfg-options train_dataloader.dataset.data_root=DIR``), whose
  :meth:`DonorIndex.sample` draws uniformly; or, for ``InsLocComposite``
  under ``InsLocDataset``, the paths the dataset put in the sample;
- *how* it is decoded: :func:`load_first` tries candidates in order with
  :func:`load_image_at` (decoded straight at the size needed) and names each
  file that does not decode in one warning per process.

The indexes:

- ``DonorIndex.from_masks(mask_file)``: the donors are the images of the
  Tobias mask file, i.e. exactly the training images the
  ``TobiasMaskGenerator`` hook saw, at ``data_root / key``. The file is opened
  lazily on first use, so it may not exist yet when the pipeline is built
  (the hook writes it in ``before_train``, before the DataLoader starts its
  workers).
- ``DonorIndex.from_folder(root)``: every image file under ``root`` (a
  texture folder, or a dataset without masks), scanned lazily once per
  process.

A transform builds its index at first use and asks for it again at each use
(:meth:`DonorIndex.reuse`), so that a ``mask_file`` the
``TobiasMaskGenerator`` hook sets after construction is followed;
:func:`mask_file_unset_error` is the error of a use before that.

A donor that does not decode is recorded (see :func:`load_image_at`), named
once by :func:`load_first` and not drawn again by this process.

Pickling keeps only the source description, never the file list nor the
memory map, so DataLoader workers (``num_workers > 0``, persistent or not,
fork or spawn) and DDP ranks each reopen it cheaply. Donors are drawn with
NumPy's global generator, which MMEngine seeds per worker and rank.
"""
import os
import os.path as osp
from typing import Iterable, List, Optional, Sequence, Tuple

import cv2
import numpy as np
from mmengine.logging import MMLogger
from PIL import Image

from mmtobias.scda.image_list import scan_images
from mmtobias.scda.mask_store import MaskStore
from mmtobias.utils.image_files import IMG_EXTENSIONS

from .unreadable_files import (any_unreadable, diagnose_file,
                               jpeg_lacks_end_marker, pil_to_array,
                               record_unreadable, unreadable_kind)

__all__ = ['DonorIndex', 'load_image_at', 'load_first', 'resize_to',
           'check_path_args', 'mask_file_unset_error']


def resize_to(img: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    """Resize ``img`` to ``size = (w, h)`` with OpenCV, no-op at that size.

    Enlarging is bilinear. Shrinking is antialiased like Pillow's
    ``reducing_gap``: area averaging by the largest integer factor (OpenCV's
    fast path), then bilinear to the exact size, about 2.5x faster than a
    fractional ``INTER_AREA`` and visually the same.
    """
    h, w = img.shape[:2]
    if (w, h) == tuple(size):
        return img
    k = min(w // size[0], h // size[1])
    if k >= 2:
        img = cv2.resize(img, (w // k, h // k), interpolation=cv2.INTER_AREA)
    return cv2.resize(img, tuple(size), interpolation=cv2.INTER_LINEAR)


_REDUCED = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2,
            4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8}


def load_image_at(path: str,
                  size: Tuple[int, int],
                  channel_order: str = 'bgr',
                  gray: bool = False) -> np.ndarray:
    """Decode an image directly at ``size = (w, h)`` (aspect not kept).

    JPEG files are decoded by libjpeg at the largest power-of-two reduction
    (1/2, 1/4, 1/8, through OpenCV's ``IMREAD_REDUCED_COLOR_*``) that still
    covers ``size``, so a large donor is never decoded at full resolution
    only to be shrunk to 224; OpenCV applies their EXIF orientation, as
    ``LoadImageFromFile`` does. Other formats, and JPEGs OpenCV cannot read,
    go through Pillow (stored orientation).

    A file that does not decode fully raises ``OSError`` naming the reason,
    truncated JPEGs included (OpenCV would grey their missing part without an
    error), and is recorded in
    :mod:`~mmtobias.datasets.transforms.unreadable_files`: later calls for it
    raise at once, without decoding, and :meth:`DonorIndex.sample` no longer
    draws it in this process.

    Args:
        path (str): Image file.
        size (tuple[int, int]): Output ``(w, h)``.
        channel_order (str): 'bgr' (as mmcv's loaders) or 'rgb'.
            Defaults to 'bgr'.
        gray (bool): Return a single-channel ``(h, w)`` image.
            Defaults to False.

    Returns:
        np.ndarray: uint8 ``(h, w, 3)`` (or ``(h, w)`` if ``gray``).
    """
    if unreadable_kind(path) is not None:
        raise OSError(f'{path} was found unreadable before in this process')
    try:
        arr = _decode_at(path, tuple(size), gray)
    except Exception as err:  # noqa: BLE001  (any decoder failure)
        kind, reason = diagnose_file(path, err)
        record_unreadable(path, kind, reason)
        raise OSError(f'{path}: {reason}') from err
    arr = resize_to(arr, tuple(size))
    if not gray and channel_order == 'rgb':
        arr = arr[..., ::-1]
    return np.ascontiguousarray(arr)


def _decode_at(path: str, size: Tuple[int, int], gray: bool) -> np.ndarray:
    with Image.open(path) as im:  # reads the header only
        fmt, (w0, h0) = im.format, im.size
        if fmt != 'JPEG' or gray:
            mode = 'L' if gray else 'RGB'
            im.draft(mode, size)
            arr = pil_to_array(im, mode)
            return arr if gray else arr[..., ::-1]  # BGR
    k = 1
    while k < 8 and w0 // (2 * k) >= size[0] and h0 // (2 * k) >= size[1]:
        k *= 2
    arr = cv2.imread(path, _REDUCED[k])  # EXIF orientation applied
    if arr is None or _jpeg_cut_short(path):
        # Pillow decides (raising if truncated): a JPEG OpenCV rejects, or one
        # without its end marker, which OpenCV decodes without an error
        with Image.open(path) as im:
            im.draft('RGB', size)
            rgb = np.asarray(im.convert('RGB'))
        if arr is None:
            arr = rgb[..., ::-1]
    return arr


def _jpeg_cut_short(path: str) -> bool:
    with open(path, 'rb') as f:
        head = f.read(3)
        f.seek(max(0, osp.getsize(path) - 64))
        return jpeg_lacks_end_marker(head, f.read())


def load_first(paths: Iterable[str],
               size: Tuple[int, int],
               channel_order: str = 'bgr',
               owner: str = 'load_first',
               what: str = 'image') -> Tuple[Optional[int],
                                             Optional[np.ndarray]]:
    """Decode the first of ``paths`` that decodes, at ``size = (w, h)``.

    ``paths`` is consumed lazily, so a generator may draw a further
    candidate only when the previous ones fail. A file already recorded as
    unreadable in this process is skipped without decoding; one that fails
    now is recorded (by :func:`load_image_at`) and named in one warning:
    ``'{owner}: {what} <path> does not decode (<reason>); drawing another
    {what}.'``

    Args:
        paths (Iterable[str]): Candidate image files, in order.
        size (tuple[int, int]): Output ``(w, h)``.
        channel_order (str): 'bgr' or 'rgb'. Defaults to 'bgr'.
        owner (str): Who asks, for the warning (the transform's name).
            Defaults to 'load_first'.
        what (str): What the image is for, for the warning ('donor',
            'background'). Defaults to 'image'.

    Returns:
        tuple: ``(k, img)``: the position of the decoded file in ``paths``
        and the uint8 image (see :func:`load_image_at`), or ``(None, None)``
        when none decodes.
    """
    for k, path in enumerate(paths):
        if unreadable_kind(path) is not None:
            continue  # named when it failed: never decoded twice
        try:
            return k, load_image_at(path, size, channel_order)
        except (OSError, SyntaxError, ValueError) as err:
            reason = str(err)
            if reason.startswith(f'{path}: '):
                reason = reason[len(path) + 2:]
            MMLogger.get_current_instance().warning(
                f'{owner}: {what} {path} does not decode ({reason}); '
                f'drawing another {what}.')
    return None, None


def check_path_args(owner: str, **paths) -> None:
    """Raise ``TypeError`` for an argument that is neither a path nor None
    (at construction: the files themselves are opened at first use)."""
    for arg, value in paths.items():
        if value is not None and not isinstance(value, (str, os.PathLike)):
            raise TypeError(f'{owner}: {arg} must be a path or None, got '
                            f'{value!r}; fix {arg} of {owner} in the '
                            f'pipeline.')


def mask_file_unset_error(owner: str, needs: str,
                          donor_root: bool = False) -> ValueError:
    """The error of a transform used before its ``mask_file`` was set.

    Args:
        owner (str): The transform's name.
        needs (str): What the mask file is needed for.
        donor_root (bool): Whether ``donor_root`` is an alternative.
            Defaults to False.
    """
    alternative = 'mask_file=<a Tobias mask file>'
    if donor_root:
        alternative += ' or donor_root=<a folder of images>'
    return ValueError(
        f'{owner}: mask_file is not set, and {needs}. Set mask_file at the '
        f'top level of the config (mask_file = \'...\', or --cfg-options '
        f'mask_file=...) with dict(type=\'TobiasMaskGenerator\') in custom_hooks '
        f'(the hook sets mask_file on the {owner} transforms of the train '
        f'pipeline before training), or pass {alternative} to {owner} in the '
        f'pipeline.')


class DonorIndex:
    """A picklable, lazily opened list of donor images.

    Build it with :meth:`from_masks` or :meth:`from_folder`; draw with
    :meth:`sample`, decode with :meth:`load`.

    Args:
        kind (str): 'masks' or 'folder'.
        source (str): The mask file or the folder.
        data_root (str, optional): For 'masks': the folder the mask keys are
            relative to. Defaults to None (``store.meta['data_root']``).
    """

    def __init__(self, kind: str, source: str,
                 data_root: Optional[str] = None):
        if kind not in ('masks', 'folder'):
            raise ValueError(f"DonorIndex: kind must be 'masks' or 'folder', "
                             f'got {kind!r}.')
        if not isinstance(source, (str, os.PathLike)):
            raise TypeError(f'DonorIndex: source must be a path, got '
                            f'{source!r}.')
        self.kind = kind
        self.source = os.fspath(source)
        self._data_root = data_root
        self._reset()

    @classmethod
    def from_masks(cls, mask_file: str, data_root: Optional[str] = None):
        return cls('masks', mask_file, data_root)

    @classmethod
    def from_folder(cls, root: str):
        return cls('folder', root)

    @classmethod
    def reuse(cls, index: Optional['DonorIndex'], kind: str, source: str,
              data_root: Optional[str] = None) -> 'DonorIndex':
        """``index`` if it describes this source, else a new index.

        A transform keeps its index and asks for it again at each use, so
        that a ``mask_file`` set after construction (by the
        ``TobiasMaskGenerator`` hook) is followed.
        """
        if index is not None and (index.kind, index.source,
                                  index._data_root) == (
                                      kind, os.fspath(source), data_root):
            return index
        return cls(kind, source, data_root)

    def _reset(self) -> None:
        self._store = MaskStore(self.source) if self.kind == 'masks' else None
        self._keys: Optional[List[str]] = None
        self._valid: Optional[np.ndarray] = None

    def __getstate__(self):
        return dict(kind=self.kind, source=self.source,
                    data_root=self._data_root)

    def __setstate__(self, state):
        self.kind, self.source = state['kind'], state['source']
        self._data_root = state['data_root']
        self._reset()

    # -- lazy loading --------------------------------------------------------
    @property
    def store(self) -> Optional[MaskStore]:
        """The mask store ('masks' kind), else None."""
        return self._store

    @property
    def data_root(self) -> str:
        """Absolute folder the keys are relative to."""
        if self.kind == 'folder':
            return osp.abspath(self.source)
        root = self._data_root or self._store.meta.get('data_root')
        if not root:
            raise ValueError(
                f'The mask file {self.source} records no data_root (e.g. '
                f'imported from the released JSON without one); pass '
                f'data_root=<the image folder its keys are relative to> to '
                f'the transform in the train pipeline.')
        return osp.abspath(root)

    def keys(self) -> List[str]:
        if self._keys is None:
            if self.kind == 'masks':
                self._keys = self._store.keys()
                bad = self._store.unreadable
                self._valid = np.array([k not in bad for k in self._keys],
                                       dtype=bool)
            else:
                self._keys = _scan(self.source)
                self._valid = np.ones(len(self._keys), dtype=bool)
            if not self._valid.any():
                raise ValueError(f'No readable donor image in {self.source}.')
        return self._keys

    def __len__(self) -> int:
        return len(self.keys())

    def path(self, i: int) -> str:
        return osp.join(self.data_root, self.keys()[i])

    def is_valid(self, i: int) -> bool:
        """False for images recorded as unreadable in the mask file."""
        self.keys()
        return bool(self._valid[i])

    def _usable(self, i: int) -> bool:
        # recorded unreadable at mask time, or by a decode in this process
        if not self._valid[i]:
            return False
        return not any_unreadable() or unreadable_kind(self.path(i)) is None

    def sample(self, max_tries: int = 100) -> int:
        """Index of a donor drawn uniformly; images recorded unreadable (in
        the mask file, or by :func:`load_image_at` in this process) are
        redrawn."""
        n = len(self)
        for _ in range(max_tries):
            i = int(np.random.randint(n))
            if self._usable(i):
                return i
        return int(np.random.choice(np.flatnonzero(self._valid)))

    def load(self, candidates: Sequence[int], size: Tuple[int, int],
             channel_order: str = 'bgr', owner: str = 'DonorIndex',
             what: str = 'donor') -> Tuple[Optional[int],
                                           Optional[np.ndarray]]:
        """The first donor of ``candidates`` (indices, e.g. from
        :meth:`sample`) that decodes, with :func:`load_first`.

        Returns:
            tuple: ``(index, img)``, or ``(None, None)`` if none decodes.
        """
        k, img = load_first((self.path(i) for i in candidates), size,
                            channel_order, owner, what)
        return (None, None) if k is None else (candidates[k], img)

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}.from_{self.kind}({self.source!r})'


def _scan(root: str, extensions: Sequence[str] = IMG_EXTENSIONS) -> List[str]:
    """Image keys (paths relative to ``root``, '/' separators) of a donor folder."""
    if not osp.isdir(root):
        raise FileNotFoundError(f'Image folder {root} does not exist; set it '
                                f'to a folder of images.')
    keys = [osp.relpath(p, osp.abspath(root)).replace(os.sep, '/')
            for p in scan_images(root, extensions)]
    if not keys:
        raise FileNotFoundError(f'No images ({", ".join(extensions)}) found under '
                                f'the donor folder {root}.')
    return keys
