# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""InsLoc copy-paste compositing: two crops of an image on two backgrounds."""
import math
import os.path as osp
from typing import Iterator, List, Optional, Sequence, Tuple

import mmcv
import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness
from mmengine.logging import MMLogger
from mmpretrain.datasets.transforms import RandomResizedCrop
from mmpretrain.registry import TRANSFORMS

from mmtobias.scda.mask_store import MaskStore

from .donor_index import DonorIndex, load_first

__all__ = ['InsLocComposite']

NUM_SPARES = 4  # replacement draws for unreadable ``bg_root`` backgrounds


def _check_range(name, value, low, high):
    if (not isinstance(value, (tuple, list)) or len(value) != 2
            or not low <= value[0] < value[1] <= high):
        raise ValueError(f'`{name}` must be a pair (min, max) with '
                         f'{low} <= min < max <= {high}, got {value!r}.')


@TRANSFORMS.register_module()
class InsLocComposite(BaseTransform):
    """Paste one random crop of the image onto each of two backgrounds.

    The pretext data of `InsLoc <https://arxiv.org/abs/2102.08318>`_: for
    every view, a RandomResizedCrop-style crop of the (foreground) image
    (``crop_ratio_range`` of its area, log-uniform aspect in
    ``aspect_ratio_range``, ``max_attempts`` tries and then the centre crop,
    as torchvision does) is rescaled keeping its aspect to fit a target
    ``(w, h)`` drawn uniformly in ``paste_size_range`` (``mmcv.imrescale``:
    the long side fits ``max(w, h)``, the short side ``min(w, h)``) and
    pasted at a uniform random position on a background resized to
    ``bg_size`` x ``bg_size``. The paste box ``[x1, y1, x2, y2]`` (pixels,
    ``x2``/``y2`` exclusive) is the view's ground-truth box.

    The crop parameters are drawn by mmpretrain's
    ``RandomResizedCrop.rand_crop_params`` (the torchvision rule above).

    Backgrounds, one per view, come from ``bg_img_paths`` (set by
    :class:`mmtobias.datasets.InsLocDataset`: other images of the dataset,
    uniform and different from each other) or, when ``bg_root`` is given, are
    drawn uniformly from the images under that folder (a
    :class:`~mmtobias.datasets.transforms.DonorIndex`, as the donors of
    ``BackgroundSwap``). They are decoded straight at ``bg_size`` by
    :func:`~mmtobias.datasets.transforms.donor_index.load_first`. A
    background that does not decode fully is named in one warning per
    process and replaced by the next of ``bg_spare_paths`` (InsLocDataset's
    spare draws) or, with ``bg_root``, by a new draw from the folder; it is
    not tried again by this process. Only when no candidate decodes is the
    image itself the background (with a warning).

    Tobias-guided variant (``mask_file``): the crop of each view is the
    bounding box of the image's Tobias foreground cells
    (:class:`mmtobias.scda.MaskStore`) instead of a random crop; scale,
    position and background stay random. ``mask_file`` is a public
    attribute read at each call and the file is opened at first use, so the
    ``TobiasMaskGenerator`` hook may set it after construction (from the
    config's top-level ``mask_file``).

    **Required Keys:**

    - img
    - bg_img_paths (unless ``bg_root`` is set)
    - bg_spare_paths (optional)
    - img_path (only with ``mask_file``)

    **Modified Keys:**

    - img (a list of ``num_views`` arrays, ``bg_size`` x ``bg_size`` x 3)
    - img_shape

    **Added Keys:**

    - gt_bboxes (np.float32, ``num_views`` x 4: row ``i`` is view ``i``'s box)

    Args:
        bg_size (int): Side of the square backgrounds. Defaults to 256.
        paste_size_range (Sequence[int]): ``[min, max)`` of the target width
            and height of the pasted crop. Defaults to (128, 255).
        crop_ratio_range (Sequence[float]): Range of the crop area as a
            fraction of the image area. Defaults to (0.2, 1.0).
        aspect_ratio_range (Sequence[float]): Range of the crop aspect ratio
            (w / h), sampled log-uniformly. Defaults to (0.5, 2.0).
        max_attempts (int): Crop tries before the centre-crop fallback.
            Defaults to 10.
        num_views (int): Number of composited views. Defaults to 2.
        bg_root (str, optional): A folder of background images (searched
            recursively) used instead of ``bg_img_paths``. Defaults to None.
        mask_file (str, optional): A Tobias mask store; enables the
            Tobias-guided crop. Defaults to None.
        mask_data_root (str, optional): The root that mask keys are relative
            to; defaults to the ``data_root`` recorded in the mask store.
        fg_fraction (float): Fraction of mask cells that are foreground.
            Defaults to 0.5.
        interpolation (str): Interpolation of the crop rescale (mmcv names).
            Defaults to 'bilinear'.
    """

    def __init__(self,
                 bg_size: int = 256,
                 paste_size_range: Sequence[int] = (128, 255),
                 crop_ratio_range: Sequence[float] = (0.2, 1.0),
                 aspect_ratio_range: Sequence[float] = (0.5, 2.0),
                 max_attempts: int = 10,
                 num_views: int = 2,
                 bg_root: Optional[str] = None,
                 mask_file: Optional[str] = None,
                 mask_data_root: Optional[str] = None,
                 fg_fraction: float = 0.5,
                 interpolation: str = 'bilinear') -> None:
        if not isinstance(bg_size, int) or bg_size < 2:
            raise ValueError(f'`bg_size` must be an int >= 2, got {bg_size!r}.')
        _check_range('paste_size_range', paste_size_range, 1, bg_size)
        _check_range('crop_ratio_range', crop_ratio_range, 0, 1)
        _check_range('aspect_ratio_range', aspect_ratio_range, 0, math.inf)
        if not isinstance(max_attempts, int) or max_attempts < 0:
            raise ValueError('`max_attempts` must be an int >= 0, got '
                             f'{max_attempts!r}.')
        if not isinstance(num_views, int) or num_views < 1:
            raise ValueError(
                f'`num_views` must be an int >= 1, got {num_views!r}.')
        if bg_root is not None and not osp.isdir(bg_root):
            raise ValueError(f'`bg_root` {bg_root!r} is not a folder; give a '
                             'folder of background images or None to take '
                             'backgrounds from the dataset (InsLocDataset).')
        if not 0 < fg_fraction <= 1:
            raise ValueError(
                f'`fg_fraction` must be in (0, 1], got {fg_fraction!r}.')
        self.bg_size = bg_size
        self.paste_size_range = tuple(paste_size_range)
        self.crop_ratio_range = tuple(crop_ratio_range)
        self.aspect_ratio_range = tuple(aspect_ratio_range)
        self.max_attempts = max_attempts
        self.num_views = num_views
        self.bg_root = bg_root
        self.mask_file = mask_file
        self.mask_data_root = mask_data_root
        self.fg_fraction = fg_fraction
        self.interpolation = interpolation
        # only its parameter draw is used (the crop is pasted, not resized)
        self._crop_sampler = RandomResizedCrop(
            scale=bg_size,
            crop_ratio_range=self.crop_ratio_range,
            aspect_ratio_range=self.aspect_ratio_range,
            max_attempts=max_attempts)
        # built at first use, picklable: workers rescan / reopen cheaply
        self._bg_index = self._masks = None

    def _random_crop(self, img: np.ndarray) -> Tuple[int, int, int, int]:
        """A RandomResizedCrop box ``(x, y, cw, ch)`` in ``img``."""
        h, w = img.shape[:2]
        y, x, ch, cw = self._crop_sampler.rand_crop_params(img)
        # at least one pixel, even for a degenerate centre-crop fallback
        return x, y, min(max(1, cw), w - x), min(max(1, ch), h - y)

    def _random_paste(self, cw: int, ch: int) -> Tuple[int, int, int, int]:
        """Pasted size and position ``(px, py, pw, ph)`` of a ``cw`` x ``ch`` crop."""
        tw, th = np.random.randint(*self.paste_size_range, size=2)
        pw, ph = mmcv.rescale_size((cw, ch), (int(tw), int(th)))
        pw, ph = max(1, min(pw, self.bg_size)), max(1, min(ph, self.bg_size))
        px = np.random.randint(0, self.bg_size - pw + 1)
        py = np.random.randint(0, self.bg_size - ph + 1)
        return px, py, pw, ph

    @cache_randomness
    def _random_params(self, img: np.ndarray,
                       crop: Optional[tuple] = None) -> List[tuple]:
        """Per view ``(x, y, cw, ch, px, py, pw, ph)``: crop, then paste box.

        ``crop`` fixes the crop (Tobias-guided); otherwise it is random.
        """
        params = []
        for _ in range(self.num_views):
            x, y, cw, ch = crop if crop is not None else self._random_crop(img)
            params.append((x, y, cw, ch) + self._random_paste(cw, ch))
        return params

    @property
    def bg_index(self) -> Optional[DonorIndex]:
        """The images of ``bg_root`` (scanned at first use), or None."""
        if self.bg_root is None:
            return None
        self._bg_index = DonorIndex.reuse(self._bg_index, 'folder',
                                          self.bg_root)
        return self._bg_index

    def _draw_bg_paths(self, num: int) -> List[str]:
        index = self.bg_index
        return [index.path(index.sample()) for _ in range(num)]

    @cache_randomness
    def _random_bg_paths(self) -> List[str]:
        return self._draw_bg_paths(self.num_views)

    def _tobias_crop(self, results: dict, h: int,
                     w: int) -> Tuple[int, int, int, int]:
        """The bounding box of the Tobias foreground cells, in image pixels."""
        self._masks = DonorIndex.reuse(self._masks, 'masks', self.mask_file,
                                       self.mask_data_root)
        key = MaskStore.relpath(results['img_path'], self._masks.data_root)
        fg = np.asarray(
            self._masks.store.foreground(key, fraction=self.fg_fraction))
        rows, cols = np.nonzero(fg)
        grid_h, grid_w = fg.shape
        x1 = int(math.floor(cols.min() * w / grid_w))
        x2 = int(math.ceil((cols.max() + 1) * w / grid_w))
        y1 = int(math.floor(rows.min() * h / grid_h))
        y2 = int(math.ceil((rows.max() + 1) * h / grid_h))
        return x1, y1, max(1, x2 - x1), max(1, y2 - y1)

    @cache_randomness
    def _random_spare_bg_paths(self) -> List[str]:
        """Replacements for ``bg_root`` backgrounds that do not decode (drawn
        only then, so readable folders keep their random stream)."""
        return self._draw_bg_paths(NUM_SPARES)

    def _backgrounds(self, paths: List[str], spares: Sequence[str],
                     img: np.ndarray) -> List[np.ndarray]:
        """One canvas per view: ``paths[i]``, else the next spare that
        decodes, else (no spare left) the image itself."""
        pool = list(spares)  # shared by the views, used in order
        drawn = [self.bg_root is None]  # bg_root: spares drawn when needed

        def candidates(path: str) -> Iterator[str]:
            yield path
            while True:
                if not pool and not drawn[0]:
                    pool.extend(self._random_spare_bg_paths())
                    drawn[0] = True
                if not pool:
                    return
                yield pool.pop(0)

        name, size = self.__class__.__name__, (self.bg_size, self.bg_size)
        canvases = []
        for path in paths[:self.num_views]:
            _, canvas = load_first(candidates(path), size, 'bgr', name,
                                   'background')
            if canvas is None:
                MMLogger.get_current_instance().warning(
                    f'{name}: no background of {paths} (nor a spare) '
                    'decodes; the foreground image is used as the '
                    'background instead.')
                canvas = mmcv.imresize(img, size)
            elif not canvas.flags.writeable:
                canvas = canvas.copy()  # the crop is pasted into it
            canvases.append(canvas)
        return canvases

    def transform(self, results: dict) -> dict:
        img = results['img']
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, axis=2)
        h, w = img.shape[:2]
        if self.bg_root is not None:
            bg_paths = self._random_bg_paths()
        elif 'bg_img_paths' in results:
            bg_paths = list(results['bg_img_paths'])
        else:
            raise KeyError(
                'InsLocComposite needs background images: use the dataset '
                "type='InsLocDataset' (backgrounds drawn from the dataset) "
                'or set `bg_root` to a folder of background images.')
        if len(bg_paths) < self.num_views:
            raise ValueError(f'InsLocComposite makes {self.num_views} views '
                             f'but got {len(bg_paths)} background paths; set '
                             'InsLocDataset.num_backgrounds >= num_views.')

        crop = None
        if self.mask_file is not None:
            crop = self._tobias_crop(results, h, w)
        views, boxes = [], []
        params = self._random_params(img, crop)
        canvases = self._backgrounds(bg_paths,
                                     results.get('bg_spare_paths', ()), img)
        for canvas, (x, y, cw, ch, px, py, pw, ph) in zip(canvases, params):
            fg = mmcv.imresize(
                img[y:y + ch, x:x + cw], (pw, ph),
                interpolation=self.interpolation)
            canvas[py:py + ph, px:px + pw] = fg
            views.append(canvas)
            boxes.append([px, py, px + pw, py + ph])

        results['img'] = views
        results['img_shape'] = (self.bg_size, self.bg_size)
        results['gt_bboxes'] = np.asarray(boxes, dtype=np.float32)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(bg_size={self.bg_size}, '
                f'paste_size_range={self.paste_size_range}, '
                f'crop_ratio_range={self.crop_ratio_range}, '
                f'aspect_ratio_range={self.aspect_ratio_range}, '
                f'max_attempts={self.max_attempts}, '
                f'num_views={self.num_views}, bg_root={self.bg_root!r}, '
                f'mask_file={self.mask_file!r}, '
                f'mask_data_root={self.mask_data_root!r}, '
                f'fg_fraction={self.fg_fraction}, '
                f'interpolation={self.interpolation!r})')
