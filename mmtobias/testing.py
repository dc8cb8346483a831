# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""Small helpers for tests and examples: generated image folders."""
import os
import os.path as osp

import numpy as np
from PIL import Image


def make_image_folder(root, num_images=8, size=(48, 40), classes=('a', 'b'), seed=0):
    """Write ``num_images`` random RGB JPEGs under ``root``.

    Args:
        root (str): the folder to create.
        num_images (int): how many images. Defaults to 8.
        size (tuple[int, int]): (width, height). Defaults to (48, 40).
        classes (tuple[str]): sub-folders cycled through (ImageNet ``class/file``
            layout); empty for a flat folder. Defaults to ('a', 'b').
        seed (int): the pixel seed. Defaults to 0.

    Returns:
        list[str]: the written paths, in order.
    """
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(num_images):
        folder = osp.join(root, classes[i % len(classes)]) if classes else root
        os.makedirs(folder, exist_ok=True)
        arr = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        path = osp.join(folder, f'img_{i:03d}.jpg')
        Image.fromarray(arr).save(path, quality=90)
        paths.append(path)
    return paths
