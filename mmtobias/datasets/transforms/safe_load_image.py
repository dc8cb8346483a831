# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""Image loading that survives truncated / corrupt files with a warning."""
import io
from typing import Optional

import mmengine.fileio as fileio
import numpy as np
from mmcv.transforms import BaseTransform
from mmengine.logging import MMLogger
from mmpretrain.registry import TRANSFORMS
from PIL import Image, ImageFile

__all__ = ['SafeLoadImageFromFile']


def _decode(data: bytes, allow_truncated: bool) -> np.ndarray:
    prev = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = allow_truncated
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            rgb = np.asarray(im.convert('RGB'))
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = prev
    return np.ascontiguousarray(rgb[..., ::-1])  # BGR, as mmcv loaders


@TRANSFORMS.register_module()
class SafeLoadImageFromFile(BaseTransform):
    """Load an image with Pillow and flag files that do not decode fully.

    A truncated or corrupt file is not silently decoded (OpenCV would print a
    libjpeg message and return a partly grey image) nor fatal: a warning
    naming the file is logged, ``img_valid`` is set False and the image is
    the part Pillow can decode (the rest grey), or, if nothing decodes, a
    black image of the annotated size (``width`` / ``height`` of the data
    info) or ``fallback_size``. Metrics decide how such images count
    (see ``invalid`` of
    :class:`mmtobias.evaluation.metrics.SCDALocalization`).

    **Required Keys:**

    - img_path
    - width, height (optional, used for unreadable files)

    **Added Keys:**

    - img (np.uint8, H x W x 3, BGR)
    - img_shape
    - ori_shape
    - img_valid (bool)

    Args:
        fallback_size (tuple[int, int]): ``(H, W)`` of the placeholder for an
            unreadable file without annotated size. Defaults to (224, 224).
        backend_args (dict, optional): mmengine file backend arguments.
            Defaults to None.
    """

    def __init__(self,
                 fallback_size: tuple = (224, 224),
                 backend_args: Optional[dict] = None):
        if len(tuple(fallback_size)) != 2:
            raise ValueError(f'fallback_size={fallback_size!r} must be '
                             f'(H, W).')
        self.fallback_size = tuple(int(v) for v in fallback_size)
        self.backend_args = None if backend_args is None else dict(
            backend_args)

    def transform(self, results: dict) -> dict:
        path = results['img_path']
        data = fileio.get(path, backend_args=self.backend_args)
        valid = True
        try:
            img = _decode(data, allow_truncated=False)
        except (OSError, SyntaxError, ValueError) as err:
            valid = False
            logger = MMLogger.get_current_instance()
            try:
                img = _decode(data, allow_truncated=True)
                logger.warning(f'{path} does not decode fully ({err}); '
                               f'using the decodable part, img_valid=False.')
            except (OSError, SyntaxError, ValueError) as err2:
                h = int(results.get('height') or self.fallback_size[0])
                w = int(results.get('width') or self.fallback_size[1])
                img = np.zeros((h, w, 3), dtype=np.uint8)
                logger.warning(f'{path} cannot be decoded ({err2}); using a '
                               f'black {h}x{w} placeholder, img_valid=False.')
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        results['img_valid'] = valid
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(fallback_size='
                f'{self.fallback_size}, backend_args={self.backend_args})')
