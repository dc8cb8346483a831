# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""The Tobias augmentation: keep the foreground cells, change the background."""
from typing import Optional

import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness
from mmpretrain.registry import TRANSFORMS

from .donor_index import (DonorIndex, check_path_args, mask_file_unset_error,
                          resize_to)

__all__ = ['BackgroundSwap', 'paste_cells']

MODES = ('swap', 'random_merge', 'mixup')


def paste_cells(dst_img: np.ndarray, src_img: np.ndarray, grid: int,
                dst_cells: np.ndarray, src_cells: np.ndarray) -> np.ndarray:
    """Copy cells of ``src_img`` into cells of ``dst_img``.

    Both images are ``S x S (x C)`` with ``S`` divisible by ``grid``; cells
    are numbered in raster order. ``src_cells[i]`` of ``src_img`` is written
    into ``dst_cells[i]`` of a copy of ``dst_img``; other cells are
    untouched.
    """
    size = dst_img.shape[0]
    assert dst_img.shape == src_img.shape and size % grid == 0
    c = size // grid
    tail = dst_img.shape[2:]

    def cells(img):  # (G*G, c, c, ...) view in raster order
        return img.reshape(grid, c, grid, c, *tail).swapaxes(1, 2).reshape(
            grid * grid, c, c, *tail)

    out = dst_img.copy()
    out_cells = out.reshape(grid, c, grid, c, *tail).swapaxes(1, 2)
    src = cells(src_img)[np.asarray(src_cells, dtype=int)]
    rows, cols = np.divmod(np.asarray(dst_cells, dtype=int), grid)
    out_cells[rows, cols] = src  # writes through the view into ``out``
    return out


@TRANSFORMS.register_module()
class BackgroundSwap(BaseTransform):
    """Replace the background of the image with another image's background.

    With probability ``prob`` a donor image B is drawn uniformly from the
    dataset (B may be the image A itself) and, in the faithful ``'swap'`` mode
    (SPEC section 2): A and B are resized to ``canvas_size`` squares, split
    into ``grid x grid`` cells; B's background cells (raster order) are
    shuffled and written into A's background cells (raster order); A's
    foreground cells keep A's pixels; the result is resized back to A's size.
    Foreground/background comes from the Tobias mask file (top ``fraction``
    of each image's SCDA map).

    Ablations (Tobias paper, Table 5): ``'random_merge'`` keeps
    ``round(fraction * grid**2)`` random cells of A and fills the others with
    as many random cells of B (masks ignored); ``'mixup'`` returns
    ``lam * A + (1 - lam) * B`` with ``lam ~ Beta(mixup_alpha, mixup_alpha)``
    at A's resolution.

    Put it first in the **query** view only, next to mmpretrain's
    ``MultiView`` (view 0 is ``inputs[0]``, the MoCo query)::

        dict(type='MultiView', num_views=[1, 1],
             transforms=[[dict(type='BackgroundSwap', mask_file=mask_file),
                          *view_pipeline],
                         view_pipeline])

    **Donors.** The transform holds a picklable
    :class:`~mmtobias.datasets.transforms.DonorIndex`: the images of the mask
    file (the training set the ``TobiasMaskGenerator`` hook saw), or, for
    the mask-free ablations, every image under ``donor_root``. The mask file
    is opened lazily at the first call, so the hook may create it after the
    pipeline is built; workers and DDP ranks reopen it from its path. Donor
    JPEGs are decoded by libjpeg at the strongest 1/2, 1/4 or 1/8 reduction
    that still covers the canvas, not at full resolution then shrunk. A
    donor that fails to decode is named once and redrawn.

    **mask_file set later.** A config may set ``mask_file`` once at its top
    level, for the ``TobiasMaskGenerator`` hook only: the hook then sets the
    public attribute ``mask_file`` of this transform (built without one)
    before the DataLoader starts its workers. Used while neither
    ``mask_file`` nor ``donor_root`` is set, the transform raises a
    ``ValueError`` that says so. With ``donor_root`` the donors stay that
    folder's images even if ``mask_file`` is set later.

    **Required Keys:**

    - img
    - img_path ('swap' mode)

    **Modified Keys:**

    - img

    **Added Keys:**

    - swap_applied (bool)
    - swap_donor_path (str or None)

    Args:
        prob (float): Probability of changing the image. Defaults to 0.3.
        mode (str): 'swap', 'random_merge' or 'mixup'. Defaults to 'swap'.
        mask_file (str, optional): Tobias mask file (the same path as the
            ``TobiasMaskGenerator`` hook's). Needed by 'swap'; for the other
            modes it only provides the donor list. Defaults to None: set
            later by the hook (see above).
        data_root (str, optional): Folder the mask keys are relative to;
            ``img_path`` is mapped to its key with ``os.path.relpath``.
            Defaults to None (the ``data_root`` recorded in the mask file).
        donor_root (str, optional): Folder of donor images, for
            'random_merge' / 'mixup' instead of the mask file's images.
            Defaults to None.
        grid (int, optional): Cells per side. Defaults to None (the mask
            file's grid, or 4 without a mask file).
        fraction (float): Foreground fraction of the cells ('swap') and
            fraction of A's cells kept ('random_merge'). Defaults to 0.5.
        canvas_size (int): Side of the square both images are resized to
            before the cells are exchanged. Defaults to 224.
        mixup_alpha (float): Beta distribution parameter of 'mixup'.
            Defaults to 1.0.
        channel_order (str): Channel order of ``img`` ('bgr' as mmcv's
            ``LoadImageFromFile``, or 'rgb'), used to decode donors alike.
            Defaults to 'bgr'.
    """

    def __init__(self,
                 prob: float = 0.3,
                 mode: str = 'swap',
                 mask_file: Optional[str] = None,
                 data_root: Optional[str] = None,
                 donor_root: Optional[str] = None,
                 grid: Optional[int] = None,
                 fraction: float = 0.5,
                 canvas_size: int = 224,
                 mixup_alpha: float = 1.0,
                 channel_order: str = 'bgr') -> None:
        name = self.__class__.__name__
        if isinstance(prob, bool) or not isinstance(prob, (int, float)) \
                or not 0 <= prob <= 1:
            raise ValueError(f'{name}: prob must be a number in [0, 1], got '
                             f'{prob!r}; fix prob of {name} in the pipeline.')
        if mode not in MODES:
            raise ValueError(f'{name}: unknown mode {mode!r}; choose one of '
                             f'{MODES}.')
        if not isinstance(canvas_size, int) or canvas_size <= 0:
            raise ValueError(f'{name}: canvas_size must be a positive int, '
                             f'got {canvas_size!r}.')
        if grid is not None:
            self._check_grid(grid, canvas_size, 'grid')
        if not 0 < fraction < 1:
            raise ValueError(f'{name}: fraction must be in (0, 1), got '
                             f'{fraction!r}.')
        check_path_args(name, mask_file=mask_file, data_root=data_root,
                        donor_root=donor_root)
        if mode == 'swap' and donor_root is not None:
            raise ValueError(f"{name}: mode='swap' takes its donors from the "
                             f'mask file (it needs their masks), got '
                             f'donor_root={donor_root!r}; remove donor_root '
                             f"(it is for 'random_merge' and 'mixup').")
        if mask_file is not None and donor_root is not None:
            raise ValueError(f'{name}: mask_file and donor_root are mutually '
                             f'exclusive donor sources; provide at most one.')
        if not mixup_alpha > 0:
            raise ValueError(f'{name}: mixup_alpha must be > 0, got '
                             f'{mixup_alpha!r}.')
        if channel_order not in ('bgr', 'rgb'):
            raise ValueError(f"{name}: channel_order must be 'bgr' or 'rgb', "
                             f'got {channel_order!r}.')
        self.prob = float(prob)
        self.mode = mode
        self.mask_file = mask_file
        self.data_root = data_root
        self.donor_root = donor_root
        self.grid = grid
        self.fraction = float(fraction)
        self.canvas_size = canvas_size
        self.mixup_alpha = float(mixup_alpha)
        self.channel_order = channel_order
        self._donors = None  # built at first use: mask_file may come later

    def _check_grid(self, grid, canvas_size, where):
        if not isinstance(grid, int) or grid < 1 or canvas_size % grid:
            raise ValueError(
                f'{self.__class__.__name__}: {where}={grid!r} must be a '
                f'positive int dividing canvas_size={canvas_size}; set grid '
                f'(and the masks) to a divisor of {canvas_size}, e.g. 4.')

    @property
    def donors(self) -> DonorIndex:
        """The donor index: ``donor_root``'s images, else the mask file's
        (the current ``mask_file``, opened lazily)."""
        if self.donor_root is not None:
            source = ('folder', self.donor_root, None)
        elif self.mask_file is not None:
            source = ('masks', self.mask_file, self.data_root)
        else:
            raise self._unset_error()
        self._donors = DonorIndex.reuse(self._donors, *source)
        return self._donors

    def _unset_error(self) -> ValueError:
        if self.mode == 'swap':
            return mask_file_unset_error(
                self.__class__.__name__, "mode='swap' needs the Tobias masks")
        return mask_file_unset_error(
            self.__class__.__name__, f'mode={self.mode!r} needs donor images',
            donor_root=True)

    @property
    def cell_grid(self) -> int:
        """Cells per side: ``grid`` or the mask file's, checked once."""
        store = self.donors.store
        if store is None:
            return self.grid or 4
        if self.grid is not None and store.grid != self.grid:
            raise ValueError(
                f'{self.__class__.__name__}: grid={self.grid} but the mask '
                f'file {self.mask_file} has a {store.grid}x{store.grid} grid; '
                f'set grid=None or regenerate the masks.')
        self._check_grid(store.grid, self.canvas_size,
                         f'grid of {self.mask_file}')
        return store.grid

    # -- randomness ----------------------------------------------------------
    @cache_randomness
    def _random_apply(self) -> bool:
        return np.random.rand() < self.prob

    @cache_randomness
    def _random_donors(self, tries: int = 3) -> list:
        """Donor candidates, drawn at once: a donor that does not decode is
        replaced by the next (one random draw per call, as cache_randomness
        requires)."""
        return [self.donors.sample() for _ in range(tries)]

    @cache_randomness
    def _random_cells(self, num_cells: int, num_src: int, num_dst: int):
        """For 'random_merge': A's cells to overwrite and B's cells."""
        dst = np.sort(np.random.permutation(num_cells)[:num_dst])
        src = np.random.permutation(num_cells)[:num_src]
        return dst, src

    @cache_randomness
    def _random_lambda(self) -> float:
        return float(np.random.beta(self.mixup_alpha, self.mixup_alpha))

    # -- helpers -------------------------------------------------------------
    def foreground(self, img_path: str) -> np.ndarray:
        """Foreground cells of an image, bool ``(grid, grid)``."""
        store = self.donors.store
        key = store.relpath(img_path, self.donors.data_root)
        try:
            return store.foreground(key, self.fraction)
        except KeyError as err:
            raise KeyError(f'BackgroundSwap: no Tobias mask for image '
                           f'{img_path}: {err.args[0]}') from None

    def _load_donor(self, size):
        """(donor index, decoded donor) or (None, None) if none decodes."""
        return self.donors.load(self._random_donors(), size,
                                self.channel_order, self.__class__.__name__,
                                'donor')

    # -- transform -----------------------------------------------------------
    def transform(self, results: dict) -> dict:
        results['swap_applied'] = False
        results['swap_donor_path'] = None
        if self.prob > 0 and self.mask_file is None \
                and self.donor_root is None:
            raise self._unset_error()  # at every call, not only when drawn
        if not self._random_apply():
            return results
        img = results['img']
        h, w = img.shape[:2]
        if img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(f'BackgroundSwap expects an H x W x 3 image, got '
                             f'shape {img.shape} for {results.get("img_path")}.')
        if self.mode == 'mixup':
            i, donor = self._load_donor((w, h))
            if donor is None:
                return results
            lam = self._random_lambda()
            mixed = lam * img.astype(np.float32) + (1 - lam) * donor
            out = np.clip(np.rint(mixed), 0, 255).astype(img.dtype)
        else:
            grid, size = self.cell_grid, self.canvas_size
            if self.mode == 'swap':
                fg_a = self.foreground(results['img_path'])
            i, donor = self._load_donor((size, size))
            if donor is None:
                return results
            if self.mode == 'swap':
                fg_b = self.donors.store.foreground(self.donors.keys()[i],
                                                    self.fraction)
                dst = np.flatnonzero(~fg_a)  # raster order
                src = np.flatnonzero(~fg_b)
                if len(dst) == 0 or len(src) == 0:  # all foreground
                    return results
                # With equal counts (the top-fraction rule) this is a
                # shuffle of B's background cells; otherwise they repeat.
                src = np.resize(src[self._random_order(len(src))], len(dst))
            else:
                n = grid * grid
                n_new = n - int(round(self.fraction * n))
                dst, src = self._random_cells(n, n_new, n_new)
            canvas = resize_to(img, (size, size))
            out = resize_to(paste_cells(canvas, donor, grid, dst, src), (w, h))
        results['img'] = out
        results['swap_applied'] = True
        results['swap_donor_path'] = self.donors.path(i)
        return results

    @cache_randomness
    def _random_order(self, n: int) -> np.ndarray:
        return np.random.permutation(n)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(prob={self.prob}, '
                f'mode={self.mode!r}, mask_file={self.mask_file!r}, '
                f'data_root={self.data_root!r}, '
                f'donor_root={self.donor_root!r}, grid={self.grid}, '
                f'fraction={self.fraction}, canvas_size={self.canvas_size}, '
                f'mixup_alpha={self.mixup_alpha}, '
                f'channel_order={self.channel_order!r})')
