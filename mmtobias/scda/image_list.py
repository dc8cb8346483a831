# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""Image lists for mask generation: folder scan, dataset scan, decoding
(the CPU paths, and the worker half of the nvJPEG path)."""
import os
import os.path as osp
from typing import List, Sequence, Tuple

import numpy as np
import torch
from PIL import Image, ImageOps
from torch.utils.data import Dataset, default_collate

from .jpeg_route import gpu_route

__all__ = [
    'IMG_EXTENSIONS', 'scan_images', 'dataset_image_paths', 'decode_image',
    'ImageListDataset'
]

from mmtobias.utils.image_files import IMG_EXTENSIONS


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


def decode_image(path: str, input_size: int, min_size: int = 1,
                 draft: bool = False) -> np.ndarray:
    """Decode an image file to ``input_size x input_size x 3`` uint8 RGB.

    Follows the released code: PIL decode, ``convert('RGB')`` (grayscale,
    RGBA, CMYK, palette), bilinear resize to a square (aspect ratio not kept);
    unlike it, the EXIF orientation is applied first, because mmpretrain's
    ``LoadImageFromFile`` (OpenCV) applies it to the training images.
    Raises on unreadable/truncated files and on images with a side smaller
    than ``min_size`` (the mask grid), whose cells would be empty.

    With ``draft``, a JPEG is decoded at the largest DCT scale (1/2, 1/4 or
    1/8, PIL's ``Image.draft``) that keeps both sides >= ``input_size``
    (images under twice the input size are decoded in full, bit-identical
    to ``draft=False``); the rest is the same.
    """
    with Image.open(path) as img:
        w, h = img.size
        if min(w, h) < min_size:
            raise ValueError(f'image is {w}x{h}, smaller than the '
                             f'{min_size}x{min_size} mask grid')
        if draft and img.format == 'JPEG':
            # the target is square, so the EXIF turn below does not matter
            img.draft('RGB', (input_size, input_size))
        img.load()
        # Apply the EXIF orientation, as mmcv's LoadImageFromFile does for the
        # training images, so that the mask cells land on the image the
        # transforms see.
        img = ImageOps.exif_transpose(img).convert('RGB').resize(
            (input_size, input_size), Image.BILINEAR)
        return np.array(img, dtype=np.uint8)  # writable copy for torch


def _read(path: str) -> bytes:
    with open(path, 'rb') as f:
        return f.read()


class ImageListDataset(Dataset):
    """Decodes images in DataLoader workers; never raises on a bad file.

    Item ``i`` is ``(i, image uint8 3 x S x S, ok, reason)``; unreadable files
    give a zero image, ``ok=False`` and the error as ``reason``.

    With ``decode='nvjpeg'`` a JPEG the GPU decodes (see
    :func:`~mmtobias.scda.jpeg_route.gpu_route`) is returned as its bytes
    and EXIF orientation instead of an image:
    ``(i, None, True, '', (file bytes, orientation))``; any other
    file is decoded on the CPU as with 'pil' (the fifth element then says
    why). :meth:`collate` packs a batch for
    :class:`~mmtobias.scda.gpu_decode.NvjpegBatchDecoder`.

    Args:
        paths (Sequence[str]): Image files.
        input_size (int): Side of the square output.
        min_size (int): Smallest accepted side (the mask grid).
            Defaults to 1.
        decode (str): 'pil', 'draft' or 'nvjpeg' (a resolved path, see
            :func:`~mmtobias.scda.runtime.resolve_decode`). Defaults to 'pil'.
    """

    def __init__(self, paths: Sequence[str], input_size: int,
                 min_size: int = 1, decode: str = 'pil'):
        if decode not in ('pil', 'draft', 'nvjpeg'):
            raise ValueError(f"ImageListDataset: decode={decode!r} is not "
                             f"one of 'pil', 'draft', 'nvjpeg'.")
        self.paths = list(paths)
        self.input_size = input_size
        self.min_size = min_size
        self.decode = decode

    def __len__(self) -> int:
        return len(self.paths)

    def decode_cpu(self, i: int) -> np.ndarray:
        """Image ``i`` through the CPU path (raises on a broken file)."""
        return decode_image(self.paths[i], self.input_size, self.min_size,
                            draft=self.decode == 'draft')

    def __getitem__(self, i: int):
        why = ''  # nvjpeg: why this file takes the CPU path
        if self.decode == 'nvjpeg':
            try:
                data = _read(self.paths[i])
                orientation, why = gpu_route(data, self.min_size)
            except OSError as e:  # named by the CPU path below
                orientation, why = None, f'{type(e).__name__}'
            if orientation is not None:
                return i, None, True, '', (data, orientation)
        try:
            arr = self.decode_cpu(i)
            ok, reason = True, ''
        except Exception as e:  # any decoder failure marks the file unreadable
            arr = np.zeros((self.input_size, self.input_size, 3), np.uint8)
            ok, reason = False, f'{type(e).__name__}: {e}'
        img = torch.from_numpy(arr).permute(2, 0, 1)
        return (i, img, ok, reason) if self.decode != 'nvjpeg' else (
            i, img, ok, reason, why)

    def collate(self, items):
        """A batch: default collation for 'pil'/'draft'; for 'nvjpeg' a
        dict with the GPU JPEGs' bytes packed in one tensor (one transfer
        from the worker) and the CPU-decoded images apart."""
        if self.decode != 'nvjpeg':
            return default_collate(items)
        gpu = [(k, it[4]) for k, it in enumerate(items) if it[1] is None]
        cpu = [(k, it) for k, it in enumerate(items) if it[1] is not None]
        sizes = [len(raw) for _, (raw, _) in gpu]
        offsets = torch.tensor([0] + sizes, dtype=torch.int64).cumsum(0)
        s = self.input_size
        return dict(
            idx=torch.tensor([it[0] for it in items], dtype=torch.int64),
            ok=torch.tensor([it[2] for it in items], dtype=torch.bool),
            reasons=[it[3] for it in items],
            data=(torch.frombuffer(bytearray(b''.join(
                raw for _, (raw, _) in gpu)), dtype=torch.uint8) if gpu else
                  torch.zeros(0, dtype=torch.uint8)),
            offsets=offsets,
            gpu_pos=torch.tensor([k for k, _ in gpu], dtype=torch.int64),
            orientation=torch.tensor([o for _, (_, o) in gpu],
                                     dtype=torch.int64),
            cpu_pos=torch.tensor([k for k, _ in cpu], dtype=torch.int64),
            cpu_imgs=(torch.stack([it[1] for _, it in cpu]) if cpu else
                      torch.zeros((0, 3, s, s), dtype=torch.uint8)),
            cpu_why=[it[4] for _, it in cpu])
