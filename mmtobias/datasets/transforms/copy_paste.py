# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""Copy the salient foreground onto another background (Distilling
Localization, Zhao et al., section 5.2)."""
import os.path as osp
from typing import Optional

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness
from mmengine.logging import MMLogger
from mmpretrain.registry import TRANSFORMS
from PIL import Image, ImageFilter

from mmtobias.scda.mask_store import MaskStore

from .donor_index import (DonorIndex, check_path_args, load_image_at,
                          mask_file_unset_error)

__all__ = ['CopyPaste', 'blur_mask']

SALIENCY = ('tobias', 'folder')
BACKGROUNDS = ('gray', 'texture', 'dataset')
BLENDS = ('none', 'gaussian', 'mix')


def blur_mask(mask: np.ndarray, radius: float) -> np.ndarray:
    """Soft alpha of a binary ``H x W`` mask, as the released DiLo code
    makes it: the mask as an 8-bit image (0 / 255) through Pillow's
    ``ImageFilter.GaussianBlur(radius)``, back to float32 in [0, 1]."""
    img = Image.fromarray(np.rint(mask * 255).astype(np.uint8))
    blurred = img.filter(ImageFilter.GaussianBlur(radius))
    return np.asarray(blurred, dtype=np.float32) / 255


@TRANSFORMS.register_module()
class CopyPaste(BaseTransform):
    """Composite the image's foreground over a new background (DiLo).

    With probability ``prob`` (released code: keep the original with 0.7)
    the foreground given by a per-image saliency map is pasted onto a
    background of the same size (SPEC section 3):

    - saliency ``'tobias'``: the image's raw Tobias SCDA map upsampled to
      the image (``'bilinear'``, or ``'nearest'`` = the cells) and cut at the
      value separating the top ``fraction`` of the cells, so that the cell
      centres agree with the Tobias foreground cells; images recorded as
      unreadable are left unchanged. ``'folder'``: a grayscale saliency image
      at ``saliency_dir / relpath(img_path, data_root)`` with its suffix
      replaced by ``saliency_suffix`` (e.g. RBD or BASNet output, 0-255),
      foreground where ``value >= saliency_thr * 255``.
    - background ``'gray'``: a uniform random gray level (released code);
      ``'texture'``: a random image of ``texture_dir`` resized to the image;
      ``'dataset'``: another training image (the mask file's images, or any
      image under ``donor_root``) resized to the image.
    - blending ``'none'`` (hard mask), ``'gaussian'`` (the alpha is the
      mask blurred as the released code does, with Pillow's
      ``ImageFilter.GaussianBlur(blur_radius)`` on the 8-bit mask at the
      image's resolution: radius 5 is a Gaussian of standard deviation 5
      pixels, not a 5x5 kernel), ``'mix'`` (gaussian with probability
      ``blend_prob``, else hard).

    Apply it before the other augmentations of **each** view; every view
    draws independently::

        dict(type='MultiView', num_views=2,
             transforms=[[dict(type='CopyPaste', mask_file=mask_file),
                          *view_pipeline]])

    Donors, textures and the mask file are held as picklable, lazily opened
    :class:`~mmtobias.datasets.transforms.DonorIndex` objects (see
    ``BackgroundSwap``), so the transform works in DataLoader workers and
    DDP ranks. As there, ``mask_file`` may be left unset and set later
    through the public attribute (by the ``TobiasMaskGenerator`` hook, from
    the config's top-level ``mask_file``); a transform that needs it and is
    used without it raises a ``ValueError`` that says so.

    **Required Keys:**

    - img
    - img_path

    **Modified Keys:**

    - img

    **Added Keys:**

    - copy_paste_applied (bool)

    Args:
        prob (float): Probability of compositing. Defaults to 0.3.
        saliency (str): 'tobias' or 'folder'. Defaults to 'tobias'.
        mask_file (str, optional): Tobias mask file (saliency 'tobias';
            also the donor list of background 'dataset'). Defaults to None:
            set later by the hook, or not needed.
        data_root (str, optional): Folder ``img_path`` is made relative to
            (for the mask keys and the saliency folder). Defaults to None
            (the mask file's ``data_root``; required with 'folder').
        saliency_dir (str, optional): Saliency folder parallel to the
            dataset. Defaults to None.
        saliency_suffix (str): File suffix of the saliency maps.
            Defaults to '.png'.
        saliency_thr (float): Foreground threshold of folder maps in [0, 1].
            Defaults to 0.5.
        fraction (float): Foreground fraction of the Tobias cells.
            Defaults to 0.5.
        upsample (str): 'bilinear' or 'nearest' upsampling of the Tobias
            map. Defaults to 'bilinear'.
        background (str): 'gray', 'texture' or 'dataset'. Defaults to 'gray'.
        texture_dir (str, optional): Texture images (background 'texture').
            Defaults to None.
        donor_root (str, optional): Background images for 'dataset' when no
            mask file is given. Defaults to None.
        blend (str): 'none', 'gaussian' or 'mix'. Defaults to 'mix'.
        blend_prob (float): Probability of Gaussian blending in 'mix'.
            Defaults to 0.5.
        blur_radius (float): Radius (standard deviation, in pixels of the
            image) of Pillow's ``GaussianBlur`` for the soft mask.
            Defaults to 5 (the released code).
        blur_kernel (int, optional): Deprecated name of ``blur_radius``
            (read as the radius, with a warning). Defaults to None.
        channel_order (str): 'bgr' or 'rgb', as ``img``. Defaults to 'bgr'.
    """

    def __init__(self,
                 prob: float = 0.3,
                 saliency: str = 'tobias',
                 mask_file: Optional[str] = None,
                 data_root: Optional[str] = None,
                 saliency_dir: Optional[str] = None,
                 saliency_suffix: str = '.png',
                 saliency_thr: float = 0.5,
                 fraction: float = 0.5,
                 upsample: str = 'bilinear',
                 background: str = 'gray',
                 texture_dir: Optional[str] = None,
                 donor_root: Optional[str] = None,
                 blend: str = 'mix',
                 blend_prob: float = 0.5,
                 blur_radius: float = 5.0,
                 blur_kernel: Optional[int] = None,
                 channel_order: str = 'bgr') -> None:
        name = self.__class__.__name__
        for arg, val in (('prob', prob), ('blend_prob', blend_prob),
                         ('saliency_thr', saliency_thr)):
            if isinstance(val, bool) or not isinstance(val, (int, float)) \
                    or not 0 <= val <= 1:
                raise ValueError(f'{name}: {arg} must be a number in [0, 1], '
                                 f'got {val!r}.')
        for arg, val, allowed in (('saliency', saliency, SALIENCY),
                                  ('background', background, BACKGROUNDS),
                                  ('blend', blend, BLENDS),
                                  ('upsample', upsample,
                                   ('bilinear', 'nearest')),
                                  ('channel_order', channel_order,
                                   ('bgr', 'rgb'))):
            if val not in allowed:
                raise ValueError(f'{name}: unknown {arg} {val!r}; choose one '
                                 f'of {allowed}.')
        check_path_args(name, mask_file=mask_file, data_root=data_root,
                        saliency_dir=saliency_dir, texture_dir=texture_dir,
                        donor_root=donor_root)
        if saliency == 'folder' and (saliency_dir is None or data_root is None):
            raise ValueError(f"{name}: saliency='folder' needs saliency_dir "
                             f'(maps parallel to the dataset) and data_root '
                             f'(the image folder they mirror).')
        if background == 'texture' and texture_dir is None:
            raise ValueError(f"{name}: background='texture' needs "
                             f'texture_dir (a folder of texture images).')
        if blur_kernel is not None:
            MMLogger.get_current_instance().warning(
                f'{name}: blur_kernel={blur_kernel!r} is deprecated and read '
                f'as blur_radius={blur_kernel!r} (Pillow GaussianBlur radius, '
                f'as released); rename it to blur_radius in the config.')
            blur_radius = blur_kernel
        if isinstance(blur_radius, bool) or \
                not isinstance(blur_radius, (int, float)) or blur_radius < 0:
            raise ValueError(f'{name}: blur_radius must be a number >= 0 '
                             f'(Pillow GaussianBlur radius in pixels), got '
                             f'{blur_radius!r}.')
        if not 0 < fraction < 1:
            raise ValueError(f'{name}: fraction must be in (0, 1), got '
                             f'{fraction!r}.')
        self.prob, self.saliency, self.mask_file = float(prob), saliency, \
            mask_file
        self.data_root, self.saliency_dir = data_root, saliency_dir
        self.saliency_suffix, self.saliency_thr = saliency_suffix, float(
            saliency_thr)
        self.fraction, self.upsample = float(fraction), upsample
        self.background, self.texture_dir = background, texture_dir
        self.donor_root, self.blend = donor_root, blend
        self.blend_prob, self.blur_radius = float(blend_prob), float(
            blur_radius)
        self.channel_order = channel_order
        # built at first use: mask_file may be set after construction
        self._masks = self._backgrounds = None

    # -- second images -------------------------------------------------------
    @property
    def masks(self) -> Optional[DonorIndex]:
        """The mask file's index (its images and maps), None without one."""
        if self.mask_file is None:
            return None
        self._masks = DonorIndex.reuse(self._masks, 'masks', self.mask_file,
                                       self.data_root)
        return self._masks

    @property
    def backgrounds(self) -> Optional[DonorIndex]:
        """The background images: ``texture_dir``'s ('texture'),
        ``donor_root``'s or else the mask file's ('dataset'); None ('gray')."""
        if self.background == 'gray':
            return None
        if self.background == 'dataset' and self.donor_root is None:
            return self.masks
        root = self.texture_dir if self.background == 'texture' \
            else self.donor_root
        self._backgrounds = DonorIndex.reuse(self._backgrounds, 'folder',
                                             root)
        return self._backgrounds

    def _check_mask_file(self) -> None:
        """Raise if a source needed now is still unset."""
        if self.mask_file is not None:
            return
        name = self.__class__.__name__
        if self.saliency == 'tobias':
            raise mask_file_unset_error(
                name, "saliency='tobias' needs mask_file (the Tobias maps)")
        if self.background == 'dataset' and self.donor_root is None:
            raise mask_file_unset_error(
                name, "background='dataset' needs donor images",
                donor_root=True)

    # -- randomness ----------------------------------------------------------
    @cache_randomness
    def _random_apply(self) -> bool:
        return np.random.rand() < self.prob

    @cache_randomness
    def _random_gray(self) -> int:
        return int(np.random.randint(256))

    @cache_randomness
    def _random_backgrounds(self, tries: int = 3) -> tuple:
        """Background candidates and a fallback gray level, drawn at once (one
        random draw per call, as cache_randomness requires)."""
        return [self.backgrounds.sample() for _ in range(tries)], int(np.random.randint(256))

    @cache_randomness
    def _random_soft(self) -> bool:
        if self.blend == 'mix':
            return np.random.rand() < self.blend_prob
        return self.blend == 'gaussian'

    # -- saliency ------------------------------------------------------------
    def foreground_mask(self, img_path: str, w: int, h: int) -> np.ndarray:
        """Binary foreground of the image at ``(h, w)``, float32 0/1."""
        if self.saliency == 'tobias':
            self._check_mask_file()
            masks = self.masks
            store = masks.store
            key = MaskStore.relpath(img_path, masks.data_root)
            try:
                if not store.is_valid(key):
                    return None  # unreadable at mask time: leave the image as it is
                raw = store.get_map(key)
            except KeyError as err:
                raise KeyError(f'CopyPaste: no Tobias mask for image '
                               f'{img_path}: {err.args[0]}') from None
            k = int(round(self.fraction * raw.size))
            values = np.sort(raw.ravel())[::-1]
            thr = (values[k - 1] + values[k]) / 2 if 0 < k < raw.size \
                else values[min(k, raw.size) - 1]
            interp = cv2.INTER_LINEAR if self.upsample == 'bilinear' \
                else cv2.INTER_NEAREST
            up = cv2.resize(raw, (w, h), interpolation=interp)
            return (up >= thr).astype(np.float32)
        rel = MaskStore.relpath(img_path, self.data_root)
        path = osp.join(self.saliency_dir,
                        osp.splitext(rel)[0] + self.saliency_suffix)
        if not osp.isfile(path):
            raise FileNotFoundError(
                f'CopyPaste: no saliency map {path} for image {img_path}; '
                f'saliency_dir must mirror data_root={self.data_root} with '
                f'{self.saliency_suffix!r} files.')
        sal = load_image_at(path, (w, h), gray=True)
        return (sal >= self.saliency_thr * 255).astype(np.float32)

    def _background(self, img: np.ndarray) -> np.ndarray:
        h, w = img.shape[:2]
        if self.background == 'gray':
            return np.full_like(img, self._random_gray())
        candidates, gray = self._random_backgrounds()
        _, bg = self.backgrounds.load(candidates, (w, h), self.channel_order,
                                      self.__class__.__name__, 'background')
        return np.full_like(img, gray) if bg is None else bg

    # -- transform -----------------------------------------------------------
    def transform(self, results: dict) -> dict:
        results['copy_paste_applied'] = False
        if self.prob > 0:
            self._check_mask_file()  # at every call, not only when drawn
        if not self._random_apply():
            return results
        img = results['img']
        h, w = img.shape[:2]
        alpha = self.foreground_mask(results['img_path'], w, h)
        if alpha is None:
            return results
        if self._random_soft():
            alpha = blur_mask(alpha, self.blur_radius)
        bg = self._background(img)
        if img.ndim == 3:
            alpha = alpha[..., None]
        out = alpha * img.astype(np.float32) + (1 - alpha) * bg
        results['img'] = np.clip(np.rint(out), 0, 255).astype(img.dtype)
        results['copy_paste_applied'] = True
        return results

    def __repr__(self) -> str:
        args = ('prob', 'saliency', 'mask_file', 'data_root', 'saliency_dir',
                'saliency_suffix', 'saliency_thr', 'fraction', 'upsample',
                'background', 'texture_dir', 'donor_root', 'blend',
                'blend_prob', 'blur_radius', 'channel_order')
        return (f'{self.__class__.__name__}(' +
                ', '.join(f'{a}={getattr(self, a)!r}' for a in args) + ')')
