# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""Foreground-cell agreement of each mask decoding path with the released
approach, on real photos.

Every image of each dataset is decoded by each path, and the maps of one
random network (``--seed``, fp32) are compared with those of 'pil', the
released approach (full-size PIL decode, EXIF turn, bilinear resize; what
``generate_masks(decode='pil')`` does):

- ``draft``: PIL draft mode (``decode='draft'``);
- ``nvjpeg-cpu``: the nvJPEG path as far as a CPU can run it: the header
  routing, the EXIF turn and the two-pass resize of ``decode='nvjpeg'``,
  with torchvision's CPU decoder (libjpeg-turbo, as PIL) standing in for
  nvJPEG; what it cannot show is how nvJPEG's own IDCT and chroma
  upsampling differ from libjpeg's;
- ``nvjpeg`` (CUDA only): the path itself;
- ``bf16``: not a decoding path: 'pil' inputs through the network in bf16
  autocast (what ``precision='auto'`` picks on GPUs with bf16), for the
  thresholds of the GPU tests.

Per dataset and path: the share of images whose network input differs from
'pil', the share of those images' pixels that differ and their mean
absolute difference (levels of 255), the foreground cells of
'pil' kept (``sum |fg & fg_pil| / sum |fg_pil|``, 8 of 16 cells per image),
the share of images with identical foreground, the worst image and the
decode time (one process; indicative: tools/benchmarks/mask_decode_benchmark.py
measures rates). Images whose input is identical get 'pil''s map (the
network is deterministic).

Example::

    OMP_NUM_THREADS=1 python tools/analysis_tools/mask_decode_agreement.py \
        --num-images 300 --out agreement.json
"""
import argparse
import json
import os.path as osp
import time

import numpy as np
import torch

from mmtobias.scda import scan_images, top_fraction_mask
from mmtobias.scda.gpu_decode import NvjpegBatchDecoder
from mmtobias.scda.image_list import ImageListDataset
from mmtobias.scda.pipeline import SCDANet

HERE = osp.dirname(osp.abspath(__file__))
DATA = osp.join(osp.dirname(osp.dirname(osp.dirname(HERE))), 'shared',
                'data')
DATASETS = dict(imagenette=osp.join(DATA, 'imagenette-5k', 'train'),
                kangaroo=osp.join(DATA, 'kangaroo', 'images'),
                cards=osp.join(DATA, 'cards', 'train'))
PATHS = ('draft', 'nvjpeg-cpu', 'nvjpeg', 'bf16')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--datasets', nargs='+', metavar='NAME=DIR',
                        help='folders to measure (default: imagenette, '
                        'kangaroo and cards under ../shared/data)')
    parser.add_argument('--num-images', type=int, default=300,
                        help='evenly spaced images per dataset (0: all)')
    parser.add_argument('--paths', nargs='+', choices=PATHS,
                        default=['draft', 'nvjpeg-cpu', 'nvjpeg'])
    parser.add_argument('--arch', default='resnet50')
    parser.add_argument('--input-size', type=int, default=224)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--batch-size', type=int, default=16)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--out', help='write the results as JSON here')
    args = parser.parse_args(argv)
    if args.datasets:
        try:
            args.datasets = dict(d.split('=', 1) for d in args.datasets)
        except ValueError:
            parser.error(f'--datasets takes NAME=DIR items, got '
                         f'{args.datasets}')
    else:
        args.datasets = dict(DATASETS)
    if torch.device(args.device).type != 'cuda' and 'nvjpeg' in args.paths:
        args.paths.remove('nvjpeg')
        print("nvjpeg: skipped (needs --device cuda); 'nvjpeg-cpu' runs its "
              'CPU-side logic instead')
    return args


def _cpu_jpeg(datas):
    from torchvision.io import ImageReadMode, decode_jpeg
    return [decode_jpeg(d, mode=ImageReadMode.RGB) for d in datas]


def decode_all(paths, path, size, grid, device):
    """``(N x 3 x S x S uint8 on CPU, ok, seconds)`` of ``paths`` decoded
    by ``path`` (one process, in batches of 32)."""
    decode = {'pil': 'pil', 'draft': 'draft'}.get(path, 'nvjpeg')
    dataset = ImageListDataset(paths, size, min_size=grid, decode=decode)
    decoder = None
    if decode == 'nvjpeg':
        decoder = NvjpegBatchDecoder(
            dataset.decode_cpu, size, device if path == 'nvjpeg' else 'cpu',
            decode_fn=None if path == 'nvjpeg' else _cpu_jpeg)
    imgs, oks = [], []
    start = time.perf_counter()
    for b in range(0, len(paths), 32):
        batch = dataset.collate([dataset[i] for i in range(
            b, min(b + 32, len(paths)))])
        _, img, ok, _ = decoder(batch) if decoder else batch
        imgs.append(img.cpu())
        oks.append(ok)
    if torch.device(device).type == 'cuda':
        torch.cuda.synchronize()
    return (torch.cat(imgs), torch.cat(oks).numpy(),
            time.perf_counter() - start)


def compute_maps(net, imgs, batch_size):
    return np.concatenate([net(imgs[b:b + batch_size])
                           for b in range(0, len(imgs), batch_size)])


def compare(ref_imgs, ref_maps, ok, imgs, net, batch_size):
    """Agreement numbers of ``imgs`` (through ``net``) against 'pil'
    (``ref_*``); a bf16 ``net`` computes every image."""
    differ = (imgs != ref_imgs).flatten(1).any(1).numpy() & ok
    sel = torch.from_numpy(differ)
    maps = ref_maps.copy()
    if net.bf16:
        maps = compute_maps(net, imgs, batch_size)
    elif differ.any():
        maps[differ] = compute_maps(net, imgs[sel], batch_size)
    diff = (imgs[sel].int() - ref_imgs[sel].int()).abs().float()
    fg_ref = top_fraction_mask(ref_maps[ok])
    fg = top_fraction_mask(maps[ok])
    kept = (fg & fg_ref).sum((1, 2)) / fg_ref.sum((1, 2))
    return dict(images=int(ok.sum()), inputs_differ=float(differ[ok].mean()),
                mean_abs_pixel_diff=float(diff.mean()) if differ.any()
                else 0.0,
                pixels_differ=float((diff > 0).float().mean())
                if differ.any() else 0.0,
                fg_cells_kept=float((fg & fg_ref).sum() / fg_ref.sum()),
                images_identical=float((kept == 1).mean()),
                worst_image=float(kept.min()))


def measure(name, folder, args, net, bf16_net):
    paths = scan_images(folder)
    if 0 < args.num_images < len(paths):
        step = len(paths) / args.num_images
        paths = [paths[int(i * step)] for i in range(args.num_images)]
    for p in paths:  # into the page cache, so that no path reads the disk
        with open(p, 'rb') as f:
            f.read()
    size, grid = args.input_size, net.grid
    ref_imgs, ok, secs = decode_all(paths, 'pil', size, grid, args.device)
    ref_maps = compute_maps(net, ref_imgs, args.batch_size)
    rows = dict(pil=dict(images=int(ok.sum()), inputs_differ=0.0,
                         mean_abs_pixel_diff=0.0, pixels_differ=0.0,
                         fg_cells_kept=1.0,
                         images_identical=1.0, worst_image=1.0,
                         decode_ms=1000 * secs / len(paths)))
    for path in args.paths:
        if path == 'bf16':
            rows[path] = dict(compare(ref_imgs, ref_maps, ok, ref_imgs,
                                      bf16_net, args.batch_size),
                              decode_ms=rows['pil']['decode_ms'])
            continue
        imgs, ok_path, secs = decode_all(paths, path, size, grid,
                                         args.device)
        if (ok_path != ok).any():
            bad = [paths[i] for i in np.flatnonzero(ok_path != ok)]
            print(f'  {path}: readability differs from pil for {bad}')
        rows[path] = dict(compare(ref_imgs, ref_maps, ok & ok_path, imgs,
                                  net, args.batch_size),
                          decode_ms=1000 * secs / len(paths))
    return dict(folder=folder, num_images=len(paths),
                unreadable=int((~ok).sum()), rows=rows)


def print_table(name, result):
    print(f"\n{name}: {result['num_images']} images from {result['folder']}"
          f" ({result['unreadable']} unreadable, left out)")
    print(f"{'path':<11}{'inputs differ':>14}{'pixels differ':>14}"
          f"{'mean |diff|':>12}"
          f"{'fg cells kept':>15}{'images same fg':>16}{'worst image':>13}"
          f"{'decode ms/img':>15}")
    for path, r in result['rows'].items():
        print(f"{path:<11}{100 * r['inputs_differ']:>13.1f}%"
              f"{100 * r['pixels_differ']:>13.1f}%"
              f"{r['mean_abs_pixel_diff']:>12.3f}"
              f"{100 * r['fg_cells_kept']:>14.2f}%"
              f"{100 * r['images_identical']:>15.1f}%"
              f"{100 * r['worst_image']:>12.1f}%{r['decode_ms']:>15.2f}")


def main(argv=None):
    args = parse_args(argv)
    device = torch.device(args.device)
    net, bf16_net = (SCDANet(args.arch, 'kaiming', args.seed,
                             args.input_size, 2, True, None, device, p, True)
                     for p in ('fp32', 'bf16'))
    net.bf16, bf16_net.bf16 = False, True
    print(f'{args.arch} (kaiming, seed {args.seed}), fp32 on {device}, '
          f'input {args.input_size}, {torch.get_num_threads()} threads')
    results = {}
    for name, folder in args.datasets.items():
        results[name] = measure(name, folder, args, net, bf16_net)
        print_table(name, results[name])
    worst = {p: min(r['rows'][p]['fg_cells_kept'] for r in results.values())
             for p in ['pil'] + args.paths}
    print('\nlowest fg cells kept over the datasets: ' + ', '.join(
        f'{p} {100 * v:.2f} %' for p, v in worst.items()))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(dict(settings=dict(arch=args.arch, seed=args.seed,
                                         input_size=args.input_size,
                                         device=str(device)),
                           datasets=results, lowest=worst), f, indent=2)
    return results


if __name__ == '__main__':
    main()
