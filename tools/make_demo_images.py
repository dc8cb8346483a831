# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""Generate the demo images: synthetic objects on textured backgrounds.

Every picture is drawn here from a fixed seed (no photographs, no third-party
content), so the images are free of rights: they are dedicated to the public
domain (CC0 1.0) and may also be used under the project's Apache-2.0 licence.

    python tools/make_demo_images.py [--out demo/images] [--num 32]

Layout: ``OUT/<shape>/<shape>_NN.jpg`` (disc, box, star, ring), 4 sizes
between 144 and 208 pixels, one object per image on a striped, checkered,
gradient or noisy background. The same arguments give the same files.
"""
import argparse
import math
import os
import os.path as osp

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

SHAPES = ('disc', 'box', 'star', 'ring')
BACKGROUNDS = ('stripes', 'checker', 'gradient', 'noise')


def _background(kind, w, h, rng):
    c1, c2 = rng.randint(40, 215, 3), rng.randint(40, 215, 3)
    y, x = np.mgrid[:h, :w]
    if kind == 'stripes':
        period, angle = rng.randint(10, 30), rng.uniform(0, math.pi)
        t = (x * math.cos(angle) + y * math.sin(angle)) // period % 2
    elif kind == 'checker':
        period = rng.randint(12, 32)
        t = (x // period + y // period) % 2
    elif kind == 'gradient':
        t = (x / w * 0.6 + y / h * 0.4)
    else:
        t = np.kron(rng.rand(h // 8 + 1, w // 8 + 1),
                    np.ones((8, 8)))[:h, :w]
    t = np.asarray(t, np.float64)[..., None]
    img = (1 - t) * c1 + t * c2 + rng.normal(0, 6, (h, w, 3))
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


def _draw_object(img, shape, rng):
    w, h = img.size
    r = rng.uniform(0.18, 0.3) * min(w, h)
    cx, cy = rng.uniform(r, w - r), rng.uniform(r, h - r)
    colour = tuple(int(v) for v in rng.choice([30, 230], 3))
    colour = colour if len(set(colour)) > 1 else (220, 40, 40)
    draw = ImageDraw.Draw(img)
    if shape == 'disc':
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour)
    elif shape == 'box':
        a = rng.uniform(0, math.pi / 2)
        pts = [(cx + r * math.cos(a + k * math.pi / 2),
                cy + r * math.sin(a + k * math.pi / 2)) for k in range(4)]
        draw.polygon(pts, fill=colour)
    elif shape == 'star':
        a = rng.uniform(0, math.pi)
        pts = [(cx + (r if k % 2 == 0 else r / 2.2) * math.cos(a + k * math.pi / 5),
                cy + (r if k % 2 == 0 else r / 2.2) * math.sin(a + k * math.pi / 5))
               for k in range(10)]
        draw.polygon(pts, fill=colour)
    else:
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], outline=colour,
                     width=max(3, int(r / 3)))
    # a soft highlight so the object is not flat
    hl = Image.new('L', img.size, 0)
    ImageDraw.Draw(hl).ellipse([cx - r / 2, cy - r / 1.5, cx, cy - r / 6],
                               fill=70)
    hl = hl.filter(ImageFilter.GaussianBlur(r / 6))
    img.paste(Image.new('RGB', img.size, (255, 255, 255)), mask=hl)
    return img


def make_demo_images(out_dir, num=32, seed=0):
    """Write ``num`` images under ``out_dir``; returns their paths."""
    rng = np.random.RandomState(seed)
    sizes = [(160, 144), (176, 176), (208, 160), (192, 208)]
    paths = []
    for i in range(num):
        shape = SHAPES[i % len(SHAPES)]
        w, h = sizes[(i // len(SHAPES)) % len(sizes)]
        img = _background(BACKGROUNDS[(i // 2) % len(BACKGROUNDS)], w, h, rng)
        img = _draw_object(img, shape, rng)
        path = osp.join(out_dir, shape, f'{shape}_{i // len(SHAPES):02d}.jpg')
        os.makedirs(osp.dirname(path), exist_ok=True)
        img.save(path, quality=90)
        paths.append(path)
    return paths


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', default=osp.join(
        osp.dirname(osp.dirname(osp.abspath(__file__))), 'demo', 'images'))
    parser.add_argument('--num', type=int, default=32)
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    paths = make_demo_images(args.out, args.num, args.seed)
    print(f'{len(paths)} synthetic images (CC0 1.0) in {args.out}')


if __name__ == '__main__':
    main()
