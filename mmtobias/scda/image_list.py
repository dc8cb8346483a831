# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""Image lists for mask generation: folder scan, dataset scan, decoding."""
import os
import os.path as osp
from typing import List, Sequence, Tuple

import numpy as np
import torch
from PIL import Image, ImageOps
from torch.utils.data import Dataset

__all__ = [
    'IMG_EXTENSIONS', 'scan_images', 'dataset_image_paths', 'decode_image',
    'ImageListDataset'
]

IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif',
                  '.tiff', '.webp')


def scan_images(image_dir: str,
                extensions: Sequence[str] = IMG_EXTENSIONS) -> List[str]:
    """All image files under ``image_dir`` (recursive, case-insensitive
    extensions, symlinks followed), as sorted absolute paths."""
    if not osp.isdir(image_dir):
        raise ValueError(f'IMAGE_DIR {image_dir!r} is not a directory; pass '
                         f'the folder that holds the training images.')
    exts = tuple(e.lower() for e in extensions)
    paths = []
    for root, dirs, files in os.walk(image_dir, followlinks=True):
        dirs.sort()
        paths.extend(
            osp.abspath(osp.join(root, f)) for f in sorted(files)
            if f.lower().endswith(exts))
    if not paths:
        raise ValueError(f'No images ({", ".join(exts)}) found under '
                         f'{image_dir!r}.')
    return sorted(paths)


def _unwrap(dataset):
    while hasattr(dataset, 'dataset') and not hasattr(dataset, 'data_prefix'):
        dataset = dataset.dataset  # RepeatDataset, ClassBalancedDataset, ...
    return dataset


def dataset_image_paths(dataset) -> Tuple[List[str], str]:
    """The distinct image paths of an MMEngine dataset and their root.

    The root is the dataset's image folder (``data_prefix['img_path']``),
    else its ``data_root``, else the deepest folder holding every image; the
    mask keys are the image paths relative to it.

    Returns:
        tuple[list[str], str]: Sorted absolute paths and the data root.
    """
    if hasattr(dataset, 'full_init'):
        dataset.full_init()
    paths = set()
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        if 'img_path' not in info:
            raise ValueError(f'Sample {i} of the train dataset '
                             f'({type(dataset).__name__}) has no img_path; '
                             f'Tobias masks need image files.')
        paths.add(osp.abspath(info['img_path']))
    if not paths:
        raise ValueError(f'The train dataset ({type(dataset).__name__}) is '
                         f'empty; nothing to generate masks for.')
    paths = sorted(paths)
    inner = _unwrap(dataset)
    prefix = getattr(inner, 'data_prefix', None) or {}
    candidates = [prefix.get('img_path') if isinstance(prefix, dict) else
                  prefix, getattr(inner, 'data_root', None)]
    for cand in candidates:
        if cand and isinstance(cand, str):
            root = osp.abspath(cand)
            if all(p.startswith(root.rstrip(os.sep) + os.sep) for p in paths):
                return paths, root
    return paths, osp.commonpath([osp.dirname(p) for p in paths])


def decode_image(path: str, input_size: int, min_size: int = 1) -> np.ndarray:
    """Decode an image file to ``input_size x input_size x 3`` uint8 RGB.

    Follows the released code: PIL decode, ``convert('RGB')`` (grayscale,
    RGBA, CMYK, palette), bilinear resize to a square (aspect ratio not kept);
    unlike it, the EXIF orientation is applied first, because mmpretrain's
    ``LoadImageFromFile`` (OpenCV) applies it to the training images.
    Raises on unreadable/truncated files and on images with a side smaller
    than ``min_size`` (the mask grid), whose cells would be empty.
    """
    with Image.open(path) as img:
        img.load()
        w, h = img.size
        if min(w, h) < min_size:
            raise ValueError(f'image is {w}x{h}, smaller than the '
                             f'{min_size}x{min_size} mask grid')
        # Apply the EXIF orientation, as mmcv's LoadImageFromFile does for the
        # training images, so that the mask cells land on the image the
        # transforms see.
        img = ImageOps.exif_transpose(img).convert('RGB').resize(
            (input_size, input_size), Image.BILINEAR)
        return np.array(img, dtype=np.uint8)  # writable copy for torch


class ImageListDataset(Dataset):
    """Decodes images in DataLoader workers; never raises on a bad file.

    Item ``i`` is ``(i, image uint8 3 x S x S, ok, reason)``; unreadable files
    give a zero image, ``ok=False`` and the error as ``reason``.
    """

    def __init__(self, paths: Sequence[str], input_size: int,
                 min_size: int = 1):
        self.paths = list(paths)
        self.input_size = input_size
        self.min_size = min_size

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        try:
            arr = decode_image(self.paths[i], self.input_size, self.min_size)
            ok, reason = True, ''
        except Exception as e:  # any decoder failure marks the file unreadable
            arr = np.zeros((self.input_size, self.input_size, 3), np.uint8)
            ok, reason = False, f'{type(e).__name__}: {e}'
        return i, torch.from_numpy(arr).permute(2, 0, 1), ok, reason

