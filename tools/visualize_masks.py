# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""Draw Tobias masks: image, SCDA heatmap overlay and the foreground cells.

One PNG per image (three panels side by side) plus ``overview.png`` stacking
them, so the masks can be checked by eye before training with them.

Examples::

    python tools/visualize_masks.py work_dirs/tobias_masks/train.tmask \
        --out-dir work_dirs/mask_vis --num 16
    python tools/visualize_masks.py masks.tmask --out-dir vis \
        --keys n01440764/n01440764_10026.JPEG --data-root data/imagenet/train
"""
import argparse
import os
import os.path as osp
import random

import numpy as np
from matplotlib import colormaps
from PIL import Image, ImageDraw

from mmtobias.scda import MaskStore


def parse_args():
    parser = argparse.ArgumentParser(description='Visualize Tobias masks.')
    parser.add_argument('mask_file')
    parser.add_argument('--out-dir', required=True)
    parser.add_argument('--data-root', help='image root (default: the one '
                        'recorded in the mask file)')
    parser.add_argument('--keys', nargs='+', help='images to draw (keys)')
    parser.add_argument('--num', type=int, default=16,
                        help='number of random images when --keys is not set')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--fraction', type=float, default=0.5,
                        help='foreground fraction of the cells')
    parser.add_argument('--size', type=int, default=224, help='panel size')
    return parser.parse_args()


def draw_panels(img: Image.Image, scda: np.ndarray, foreground: np.ndarray,
                size: int = 224, caption: str = '') -> Image.Image:
    """Image | heatmap overlay | foreground cells (background dimmed)."""
    img = img.convert('RGB').resize((size, size), Image.BILINEAR)
    base = np.asarray(img, dtype=np.float32)
    grid = foreground.shape[0]
    lo, hi = np.nanmin(scda), np.nanmax(scda)
    norm = (scda - lo) / (hi - lo) if hi > lo else np.zeros_like(scda)
    heat = Image.fromarray((norm * 255).astype(np.uint8)).resize(
        (size, size), Image.BILINEAR)
    colour = colormaps['jet'](np.asarray(heat) / 255.0)[..., :3] * 255
    overlay = 0.5 * base + 0.5 * colour
    idx = np.arange(size) * grid // size  # pixel -> cell, as in the swap
    cell = foreground[idx][:, idx]
    fg = np.where(cell[..., None], base, 0.25 * base)
    panels = [base, overlay, fg]
    canvas = Image.new('RGB', (3 * size + 20, size + 18), 'white')
    for i, arr in enumerate(panels):
        canvas.paste(Image.fromarray(arr.clip(0, 255).astype(np.uint8)),
                     (i * (size + 10), 18))
    draw = ImageDraw.Draw(canvas)
    x0, step = 2 * (size + 10), size / grid
    for k in range(1, grid):  # cell borders on the foreground panel
        draw.line([(x0 + k * step, 18), (x0 + k * step, 18 + size)],
                  fill=(255, 255, 0))
        draw.line([(x0, 18 + k * step), (x0 + size, 18 + k * step)],
                  fill=(255, 255, 0))
    draw.text((2, 2), caption, fill=(0, 0, 0))
    return canvas


def main():
    args = parse_args()
    store = MaskStore(args.mask_file)
    root = args.data_root or store.meta.get('data_root')
    if not root:
        raise SystemExit(f'{args.mask_file} records no data_root; pass '
                         f'--data-root.')
    keys = args.keys
    if not keys:
        keys = store.keys()
        random.Random(args.seed).shuffle(keys)
        keys = sorted(keys[:args.num])
    os.makedirs(args.out_dir, exist_ok=True)
    sheets = []
    for key in keys:
        path = osp.join(root, key)
        fg = store.foreground(key, args.fraction)
        if store.is_valid(key):
            img, scda = Image.open(path), store.get_map(key)
            caption = f'{key}  (SCDA map | foreground {int(fg.sum())} cells)'
        else:
            img = Image.new('RGB', (args.size, args.size), (128, 128, 128))
            scda = np.zeros(fg.shape, np.float32)
            caption = (f'{key}: unreadable ({store.unreadable[key][:60]}); '
                       f'whole image = foreground')
        sheet = draw_panels(img, scda, fg, args.size, caption)
        name = key.replace('/', '__').rsplit('.', 1)[0] + '.png'
        sheet.save(osp.join(args.out_dir, name))
        sheets.append(sheet)
    overview = Image.new('RGB', (sheets[0].width,
                                 sum(s.height for s in sheets)), 'white')
    y = 0
    for s in sheets:
        overview.paste(s, (0, y))
        y += s.height
    overview.save(osp.join(args.out_dir, 'overview.png'))
    print(f'{len(sheets)} images drawn in {args.out_dir} (overview.png)')


if __name__ == '__main__':
    main()
