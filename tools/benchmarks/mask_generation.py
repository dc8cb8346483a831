# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""Throughput of Tobias mask generation against the released approach.

The baseline re-implements the released ``generate_mask.py`` way: one
process, PIL decode, ``Resize((224, 224))`` + ``ToTensor`` + ``Normalize``,
one fp32 forward per image, maps collected in a dict and dumped as JSON.
Both run end to end (network construction to file on disk) on the same
images in the same process, so machine load affects both alike.

Example::

    python tools/benchmarks/mask_generation.py data/imagenette/train \
        --num-images 500

The last line reads ``... ratio=R`` (generator img/s / baseline img/s).
"""
import argparse
import json
import os
import os.path as osp
import tempfile
import time

import numpy as np
import torch
import torch.nn as nn
import torchvision
import torchvision.transforms as T
from PIL import Image

from mmtobias.scda import (MaskStore, generate_masks, init_weights,
                           scan_images, top_fraction_mask)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('image_dir', help='folder of images (recursive)')
    parser.add_argument('--num-images', type=int, default=500,
                        help='evenly spaced subset size (0: all images)')
    parser.add_argument('--batch-size', type=int, default=32)
    parser.add_argument('--workers', type=int,
                        help='decoding processes of the generator (default: '
                        'chosen from the cores, as the hook and the CLI do)')
    parser.add_argument('--precision', default='auto',
                        choices=['auto', 'bf16', 'fp32'])
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--rounds', type=int, default=5,
                        help='alternate baseline and generator over this '
                        'many chunks, so that both see the same machine load')
    parser.add_argument('--threads', type=int,
                        help='torch compute threads for both approaches '
                        '(default: torch default). On a loaded machine, '
                        'more threads than free cores make OpenMP spin and '
                        'slow batch-1 inference by up to ~6x')
    parser.add_argument('--work-dir', help='where outputs go (default: tmp)')
    return parser.parse_args()


def released_baseline(paths, root, json_file, seed, device='cpu'):
    """One image at a time, fp32, JSON output, as the released code (which moves
    the model and each image to the GPU when it runs on one)."""
    start = time.perf_counter()
    resnet = torchvision.models.resnet50(weights=None)
    init_weights(resnet, 'kaiming', seed)  # same weights as the generator
    model = nn.Sequential(*list(resnet.children())[:-2],
                          nn.MaxPool2d(2, 2, padding=1)).to(device).eval()
    transform = T.Compose([
        T.Resize((224, 224)), T.ToTensor(),
        T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    results = {}
    for path in paths:
        try:
            img = Image.open(path).convert('RGB')
        except OSError:
            continue  # the released code would stop here
        with torch.no_grad():
            out = model(transform(img).unsqueeze(0).to(device))
        results[osp.relpath(path, root)] = out.sum(1)[0].tolist()
    with open(json_file, 'w') as f:
        json.dump(results, f)
    return time.perf_counter() - start, results


def main():
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.workers is None:  # the generator's own default on this machine
        from mmtobias.scda.runtime import default_workers_threads
        args.workers, _ = default_workers_threads('cpu')
    all_paths = scan_images(args.image_dir)
    paths = all_paths
    if 0 < args.num_images < len(all_paths):
        step = len(all_paths) / args.num_images
        paths = [all_paths[int(i * step)] for i in range(args.num_images)]
    root = osp.abspath(args.image_dir)
    work_dir = args.work_dir or tempfile.mkdtemp(prefix='mask_bench_')
    os.makedirs(work_dir, exist_ok=True)
    print(f'{len(paths)} of {len(all_paths)} images from {root}; '
          f'{torch.get_num_threads()} torch threads; outputs in {work_dir}')

    # Alternate the approaches over rounds so that both see the same load.
    chunks = [list(c) for c in np.array_split(paths, args.rounds)]
    precisions = [args.precision] + (['fp32']
                                     if args.precision != 'fp32' else [])
    seconds = dict(baseline=0.0, **{p: 0.0 for p in precisions})
    released, json_bytes = {}, 0
    stores = {p: [] for p in precisions}
    for r, chunk in enumerate(chunks):
        json_file = osp.join(work_dir, f'released_{r}.json')
        secs, res = released_baseline(chunk, root, json_file, args.seed)
        seconds['baseline'] += secs
        released.update(res)
        json_bytes += os.path.getsize(json_file)
        for precision in precisions:
            out = osp.join(work_dir, f'masks_{precision}_{r}.tmask')
            start = time.perf_counter()
            generate_masks(
                chunk, root, out, seed=args.seed, batch_size=args.batch_size,
                num_workers=args.workers, precision=precision,
                progress=False)
            seconds[precision] += time.perf_counter() - start
            stores[precision].append(MaskStore(out))
        print(f'round {r + 1}/{len(chunks)}: ' + ', '.join(
            f'{k} {v:.1f} s' for k, v in seconds.items()), flush=True)

    num = len(paths)
    base_speed = num / seconds['baseline']
    print(f"baseline (released approach): {seconds['baseline']:.1f} s, "
          f'{base_speed:.1f} img/s, {json_bytes / num:.0f} bytes/image (JSON)')
    for precision in precisions:
        meta = stores[precision][0].meta
        size = sum(os.path.getsize(s.path) for s in stores[precision])
        print(f"generator ({meta['precision']}, batch {args.batch_size}, "
              f'{args.workers} workers): {seconds[precision]:.1f} s, '
              f'{num / seconds[precision]:.1f} img/s, {size / num:.1f} '
              f'bytes/image (files incl. index; maps alone 32), '
              f"{sum(s.meta['num_unreadable'] for s in stores[precision])} "
              f'unreadable')

    def foreground(precision):
        return {k: s.foreground(k) for s in stores[precision]
                for k in s.keys() if s.is_valid(k)}

    fp32 = foreground('fp32')
    keys = sorted(fp32)
    got = np.stack([fp32[k] for k in keys])
    ref = np.stack([top_fraction_mask(np.asarray(released[k])) for k in keys])
    print(f'foreground-cell agreement, generator fp32 vs released approach: '
          f'{100 * (ref == got).mean():.2f} %')
    if args.precision != 'fp32':
        low = foreground(args.precision)
        cells = np.stack([low[k] for k in keys]) == got
        print(f'foreground-cell agreement, {args.precision} vs fp32: '
              f'{100 * cells.mean():.2f} % of cells, '
              f'{100 * cells.all(axis=(1, 2)).mean():.1f} % of images '
              f'identical')
    gen_speed = num / seconds[args.precision]
    print(f'generator {gen_speed:.1f} img/s, baseline {base_speed:.1f} img/s,'
          f' ratio={gen_speed / base_speed:.2f}')


if __name__ == '__main__':
    main()
