# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""Per-sample cost of the Tobias background swap in the MoCo v2 pipeline.

Times the two-view MoCo v2 train pipeline (decode, RandomResizedCrop,
ColorJitter, grayscale, blur, flip, PackInputs) without and with
``BackgroundSwap(prob=0.3)`` on the query view, in one process, on the same
images, alternating the two pipelines per image so that cache and CPU
contention affect both alike. Masks for the timed images are made with the real random
ResNet-50 unless ``--mask-file`` points at an existing file for IMAGE_DIR.

    python tools/benchmarks/pipeline_overhead.py IMAGE_DIR [--num 300]

The last line reads ``... ratio=R`` (with swap / without; goal <= 1.05).
"""
import argparse
import os.path as osp
import tempfile
import time

import numpy as np
from mmengine.registry import DefaultScope

import mmtobias  # noqa: F401
from mmpretrain.registry import TRANSFORMS
from mmtobias.scda import MaskStore
from mmtobias.scda.generate import generate_masks
from mmtobias.scda.image_list import scan_images


def moco_v2_view(size):
    return [
        dict(type='RandomResizedCrop', scale=size, crop_ratio_range=(0.2, 1.),
             backend='pillow'),
        dict(type='RandomApply', prob=0.8, transforms=[
            dict(type='ColorJitter', brightness=0.4, contrast=0.4,
                 saturation=0.4, hue=0.1)]),
        dict(type='RandomGrayscale', prob=0.2, keep_channels=True,
             channel_weights=(0.114, 0.587, 0.2989)),
        dict(type='GaussianBlur', magnitude_range=(0.1, 2.0),
             magnitude_std='inf', prob=0.5),
        dict(type='RandomFlip', prob=0.5),
    ]


def build_pipeline(swap, size):
    view = moco_v2_view(size)
    views = dict(num_views=2, transforms=[view]) if swap is None else dict(
        num_views=[1, 1], transforms=[[swap, *view], view])
    return TRANSFORMS.build(dict(type='Compose', transforms=[
        dict(type='LoadImageFromFile'),
        dict(type='MultiView', **views),
        dict(type='PackInputs')]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('image_dir')
    parser.add_argument('--num', type=int, default=300,
                        help='images timed (default 300)')
    parser.add_argument('--prob', type=float, default=0.3)
    parser.add_argument('--input-size', type=int, default=224)
    parser.add_argument('--mask-file', default=None,
                        help='existing masks of IMAGE_DIR (else generated)')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()

    paths = scan_images(args.image_dir)
    rng = np.random.RandomState(args.seed)
    paths = [paths[i] for i in np.sort(rng.permutation(len(paths))[
        :args.num])]
    root = osp.abspath(args.image_dir)
    tmp = tempfile.TemporaryDirectory()
    mask_file = args.mask_file
    if mask_file is None:
        mask_file = osp.join(tmp.name, 'masks.tmask')
        t = time.perf_counter()
        # masks (and so the donors) for the timed images only
        generate_masks(paths, root, mask_file, batch_size=16, num_workers=0,
                       progress=False)
        print(f'masks for {root} in {time.perf_counter() - t:.1f}s')

    # files the mask generation could not read would stop the stock loader
    bad = {osp.join(root, k) for k in MaskStore(mask_file).unreadable}
    if bad:
        print(f'skipping {len(bad)} unreadable file(s): {sorted(bad)}')
        paths = [p for p in paths if p not in bad]

    with DefaultScope.overwrite_default_scope('mmpretrain'):
        swap = dict(type='BackgroundSwap', prob=args.prob,
                    mask_file=mask_file, data_root=root)
        pipes = dict(base=build_pipeline(None, args.input_size),
                     swap=build_pipeline(swap, args.input_size))
        np.random.seed(args.seed)
        for name, pipe in pipes.items():  # warm-up: open files, caches
            for p in paths[:10]:
                pipe(dict(img_path=p))
        spent = dict(base=0.0, swap=0.0)
        for i, p in enumerate(paths):
            order = ('base', 'swap') if i % 2 == 0 else ('swap', 'base')
            for name in order:
                t = time.perf_counter()
                pipes[name](dict(img_path=p))
                spent[name] += time.perf_counter() - t
    n = len(paths)
    base, with_swap = spent['base'] / n * 1e3, spent['swap'] / n * 1e3
    print(f'{n} images, two-view MoCo v2 pipeline at {args.input_size}px')
    print(f'without swap: {base:.2f} ms/sample, with swap (p={args.prob}): '
          f'{with_swap:.2f} ms/sample, ratio={with_swap / base:.3f}')


if __name__ == '__main__':
    main()
