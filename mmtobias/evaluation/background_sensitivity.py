# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""How much do a backbone's pooled features depend on the background?

For every image of a box dataset (resized to ``size x size``) and a donor
image drawn for it (seeded, never itself, resized the same way), with ``M``
the union of the image's boxes:

- (a) ``bg_swap``: cosine similarity of the globally pooled features of the
  image and of the image with everything **outside** ``M`` replaced by the
  donor's pixels (the object kept, the background changed);
- (b) ``fg_swap``: the same with the inside of ``M`` replaced (the background
  kept, the object changed);
- ``bg_minus_fg``: (a) - (b) per image. Positive: the features follow the
  object more than its background, which is what background-swap pretraining
  (Tobias) trains for.

Each is reported as the mean and the (population) standard deviation over
images. A pixel belongs to ``M`` when its centre lies inside a box. Files that
do not decode fully are skipped, as images and as donors, with a warning. The
resized images are held in memory (``size * size * 3`` bytes each).
"""
import logging
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.logging import print_log
from PIL import Image, ImageFile

from .features import IMAGENET_MEAN, IMAGENET_STD, extract_features

__all__ = [
    'box_mask', 'draw_donors', 'load_box_samples', 'background_sensitivity'
]

# ImageNet statistics (RGB, 0-255), as every mmtobias read-out
MEAN, STD = IMAGENET_MEAN, IMAGENET_STD


def box_mask(boxes: np.ndarray, width: int, height: int,
             size: int) -> np.ndarray:
    """``size x size`` bool mask of the union of ``boxes`` (K x 4,
    ``[x1, y1, x2, y2]`` in the pixels of a ``width x height`` image) once
    the image is resized to ``size x size``: pixel centres inside a box."""
    centres = (np.arange(size) + 0.5) / size
    xs, ys = centres * width, centres * height
    mask = np.zeros((size, size), bool)
    for x1, y1, x2, y2 in np.asarray(boxes, np.float64).reshape(-1, 4):
        mask |= (((ys >= y1) & (ys < y2))[:, None]
                 & ((xs >= x1) & (xs < x2))[None, :])
    return mask


def draw_donors(num: int, seed: int) -> np.ndarray:
    """One donor index per image, uniform over the other ``num - 1``."""
    if num < 2:
        raise ValueError(f'background_sensitivity needs at least 2 readable '
                         f'images (a donor must be another image), got {num}.')
    offsets = np.random.default_rng(seed).integers(1, num, size=num)
    return (np.arange(num) + offsets) % num


def load_box_samples(images: str, annotations: str) -> List[Tuple]:
    """``(img_path, boxes)`` of every image with boxes: ``annotations`` is a
    folder of VOC-style XML files (matched to ``images`` by name, the two may
    be one folder) or a COCO-format json, read by mmtobias's box datasets."""
    import os.path as osp

    from mmpretrain.registry import DATASETS
    if osp.isfile(annotations):
        if not annotations.endswith('.json'):
            raise ValueError(f'annotations={annotations!r} is a file but not '
                             f'a COCO json; give a folder of XML files or a '
                             f'.json file.')
        cfg = dict(type='COCOBoxDataset', ann_file=annotations,
                   data_prefix=dict(img_path=images))
    else:
        cfg = dict(type='XMLFolderBoxDataset',
                   data_prefix=dict(img_path=images, ann_path=annotations))
    dataset = DATASETS.build(dict(cfg, lazy_init=False, serialize_data=False))
    return [(info['img_path'], info['gt_bboxes'])
            for info in (dataset.get_data_info(i)
                         for i in range(len(dataset)))]


def _load_rgb(path: str, size: int) -> Optional[Tuple[np.ndarray, int, int]]:
    """The image resized to ``size x size`` (Pillow bilinear) and its
    original width and height; None (with a warning) if it does not decode
    fully."""
    prev = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        with Image.open(path) as im:
            im.load()
            w, h = im.size
            arr = np.asarray(im.convert('RGB').resize((size, size),
                                                      Image.BILINEAR))
    except (OSError, SyntaxError, ValueError) as err:
        print_log(f'background_sensitivity: skipping {path}, which does not '
                  f'decode fully ({err}).', logger='current',
                  level=logging.WARNING)
        return None
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = prev
    return arr, w, h


def _stats(values: Sequence[float]) -> dict:
    values = np.asarray(values, np.float64)
    return dict(mean=float(values.mean()), std=float(values.std()))


def background_sensitivity(backbone: nn.Module,
                           samples: Sequence[Tuple[str, np.ndarray]],
                           size: int = 224,
                           seed: int = 0,
                           batch_size: int = 16) -> dict:
    """Run the probe (see the module docstring).

    Args:
        backbone (nn.Module): Maps ``N x 3 x S x S`` normalised RGB to a
            feature map (or a tuple whose last item is one); run in eval mode,
            its mode restored afterwards (see
            :func:`mmtobias.evaluation.features.extract_features`).
        samples (Sequence[tuple]): ``(img_path, boxes)`` pairs, boxes K x 4
            in original pixels (see :func:`load_box_samples`).
        size (int): Images and donors are resized to ``size x size``.
            Defaults to 224.
        seed (int): Seed of the donor draw. Defaults to 0.
        batch_size (int): Images per forward pass (x3 inputs).
            Defaults to 16.

    Returns:
        dict: ``bg_swap``, ``fg_swap``, ``bg_minus_fg`` (each ``mean`` and
        ``std``), ``images`` (count), ``skipped`` (unreadable paths),
        ``size``, ``seed`` and ``per_image`` (path, donor, both
        similarities and the box area fraction).
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f'size must be a positive int, got {size!r}.')
    loaded, skipped = [], []
    for path, boxes in samples:
        item = _load_rgb(path, size)
        if item is None:
            skipped.append(path)
            continue
        arr, w, h = item
        loaded.append((path, arr, box_mask(boxes, w, h, size)))
    donors = draw_donors(len(loaded), seed)
    records = []
    for start in range(0, len(loaded), batch_size):
        chunk = range(start, min(start + batch_size, len(loaded)))
        orig, bg_swap, fg_swap = [], [], []
        for i in chunk:
            _, img, mask = loaded[i]
            donor = loaded[donors[i]][1]
            m = mask[..., None]
            orig.append(img)
            bg_swap.append(np.where(m, img, donor))  # (a) outside replaced
            fg_swap.append(np.where(m, donor, img))  # (b) inside replaced
        # one forward pass of the 3 x len(chunk) images: N x S x S x 3 -> N x 3 x S x S
        images = torch.from_numpy(np.stack(orig + bg_swap + fg_swap))
        feats = extract_features(backbone, [images.permute(0, 3, 1, 2)])
        f0, fa, fb = feats.split(len(chunk))
        sim_a = F.cosine_similarity(f0, fa, dim=1).cpu().tolist()
        sim_b = F.cosine_similarity(f0, fb, dim=1).cpu().tolist()
        for j, i in enumerate(chunk):
            records.append(dict(
                img_path=loaded[i][0], donor_path=loaded[donors[i]][0],
                bg_swap=sim_a[j], fg_swap=sim_b[j],
                box_fraction=float(loaded[i][2].mean())))
    return dict(
        bg_swap=_stats([r['bg_swap'] for r in records]),
        fg_swap=_stats([r['fg_swap'] for r in records]),
        bg_minus_fg=_stats([r['bg_swap'] - r['fg_swap'] for r in records]),
        images=len(records), skipped=skipped, size=size, seed=seed,
        per_image=records)
