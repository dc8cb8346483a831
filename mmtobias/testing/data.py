# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""Fixture data: generated image folders, with or without boxes."""
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


def make_box_folder(root, num_images=6):
    """Images with Pascal-VOC XML boxes in the kangaroo layout (``images/``, ``annots/``).

    Each 128x96 image holds a red square ('red_square') and a blue bar ('blue_bar').

    Args:
        root (str): the folder to fill.
        num_images (int): how many images. Defaults to 6.

    Returns:
        str: ``root``.
    """
    os.makedirs(osp.join(root, 'images'), exist_ok=True)
    os.makedirs(osp.join(root, 'annots'), exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(num_images):
        img = np.full((96, 128, 3), 90, np.uint8) + rng.integers(0, 20, (96, 128, 3),
                                                                 dtype=np.uint8)
        img[10:50, 10:50] = (220, 20, 20)
        img[60:80, 40:120] = (20, 20, 220)
        Image.fromarray(img).save(osp.join(root, 'images', f'{i}.jpg'))
        with open(osp.join(root, 'annots', f'{i}.xml'), 'w') as f:
            f.write('<annotation><size><width>128</width><height>96</height></size>'
                    '<object><name>red_square</name><bndbox><xmin>11</xmin><ymin>11</ymin>'
                    '<xmax>50</xmax><ymax>50</ymax></bndbox></object>'
                    '<object><name>blue_bar</name><bndbox><xmin>41</xmin><ymin>61</ymin>'
                    '<xmax>120</xmax><ymax>80</ymax></bndbox></object></annotation>')
    return root
