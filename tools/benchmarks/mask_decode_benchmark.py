# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""Mask generation throughput per decoding path: decode-only, model-only and
end to end, extrapolated to ImageNet-1k.

For each path ('pil', 'draft', 'nvjpeg'; 'nvjpeg' needs CUDA and is skipped,
and named, elsewhere) at the generator's default decode workers for the
device and path:

- **decode-only**: the generator's DataLoader (and, for 'nvjpeg', the GPU
  decoder) until the uint8 batches are on the device; no network;
- **model-only**: the network on one uint8 batch already on the device
  (the same for every path);
- **end to end**: ``generate_masks`` (network construction, decoding,
  maps, file on disk), with the rate of its decode-and-compute loop alone
  and the foreground-cell agreement of its maps with the 'pil' run's.

Each as images/s; the time for ImageNet-1k's 1,281,167 images is the fixed
costs of a run (network, plan, file) plus 1.28 M images at the loop's rate.
The GPU and the CPU are named. The images (``--images DIR``, e.g. the ~300 photos
that ``.dev_scripts/gpu_lease/pack_photos.py`` packs) are repeated through
symlinks up to ``--num-images``, and read once before any timing, so that
the rates are steady-state rates (read from the page cache). ``--ref REF`` also
times the 'pil' path of
``mmtobias/scda`` at git REF (e.g. HEAD: the code before uncommitted
changes) in the same run; ``--rounds`` alternates all runs (each round
starting with the next one) so that machine load affects them alike.

Examples::

    python tools/benchmarks/mask_decode_benchmark.py --images .gpu_wheelhouse/photos
    python tools/benchmarks/mask_decode_benchmark.py --images .gpu_wheelhouse/photos \
        --device cpu --num-images 300 --ref HEAD --rounds 2
"""
import argparse
import importlib.util
import json
import os
import os.path as osp
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
IMAGENET_SIZE = 1_281_167
GOALS = dict(floor=2200, aim=7000)  # images/s, 16 cores + 1 GPU


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--images', required=True, help='folder of photos')
    parser.add_argument('--num-images', type=int, default=20000)
    parser.add_argument('--paths', nargs='+', default=['pil', 'draft',
                                                       'nvjpeg'],
                        choices=['pil', 'draft', 'nvjpeg'])
    parser.add_argument('--device', default='cuda' if
                        torch.cuda.is_available() else 'cpu')
    parser.add_argument('--batch-size', type=int,
                        help='default: 128 on CUDA, 32 (the generator\'s '
                        'default) on the CPU')
    parser.add_argument('--precision', default='auto',
                        choices=['auto', 'bf16', 'fp32'])
    parser.add_argument('--arch', default='resnet50')
    parser.add_argument('--input-size', type=int, default=224)
    parser.add_argument('--rounds', type=int, default=1)
    parser.add_argument('--ref', help="also time the 'pil' path of "
                        'mmtobias/scda at this git ref (e.g. HEAD)')
    parser.add_argument('--work-dir')
    parser.add_argument('--out', help='write the results as JSON here')
    parser.add_argument('--decode-only', action='store_true',
                        help='measure decode-only alone (quick: many '
                        '--rounds compare small differences)')
    parser.add_argument('--smoke', action='store_true',
                        help='ResNet-18 at 64 px on 12 images: tests the '
                        'script')
    args = parser.parse_args(argv)
    if args.batch_size is None:
        args.batch_size = 128 if args.device.startswith('cuda') else 32
    if args.smoke:
        args.num_images, args.batch_size = min(args.num_images, 12), 4
        args.arch, args.input_size = 'resnet18', 64
    return args


def machine(device):
    """The GPU (if used) and the CPU, named."""
    cpu = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            cpu = next(ln.split(':', 1)[1].strip() for ln in f
                       if ln.startswith('model name'))
    except (OSError, StopIteration):
        pass
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count()
    gpu = (torch.cuda.get_device_name(torch.device(device).index or 0)
           if torch.device(device).type == 'cuda' else None)
    return dict(gpu=gpu, cpu=f'{cpu}, {cores} cores')


def photo_set(folder, num, work_dir):
    """``num`` paths cycling over the photos of ``folder`` (or evenly
    spaced among them; symlinks under ``work_dir``), their root and a
    description."""
    from mmtobias.scda import scan_images
    photos = scan_images(folder)
    if num < len(photos):  # evenly spaced: every source of the mix
        photos = [photos[i * len(photos) // num] for i in range(num)]
    for p in photos:  # into the page cache: no run reads from the disk
        with open(p, 'rb') as f:
            f.read()
    mpix = np.mean([np.prod(Image.open(p).size) for p in photos]) / 1e6
    root = osp.join(work_dir, 'photos')
    paths = []
    for k in range(-(-num // len(photos))):
        for p in photos[:num - len(paths)]:
            link = osp.join(root, f'r{k:04d}', osp.relpath(p, folder))
            if not osp.lexists(link):
                os.makedirs(osp.dirname(link), exist_ok=True)
                os.symlink(osp.abspath(p), link)
            paths.append(link)
    return paths, root, (f'{len(photos)} photos from {folder} (mean '
                         f'{mpix:.2f} MP; ImageNet ~0.18), cycled to '
                         f'{len(paths)} images')


def load_ref(ref, work_dir):
    """``mmtobias/scda`` at git ``ref`` as a stand-alone package."""
    dest = osp.join(work_dir, f'ref_{ref}')
    os.makedirs(dest, exist_ok=True)
    archive = subprocess.run(['git', '-C', REPO, 'archive', ref,
                              'mmtobias/scda'], check=True,
                             capture_output=True).stdout
    subprocess.run(['tar', '-x', '-C', dest], input=archive, check=True)
    init = osp.join(dest, 'mmtobias', 'scda', '__init__.py')
    name = f'scda_ref_{abs(hash(ref))}'
    spec = importlib.util.spec_from_file_location(
        name, init, submodule_search_locations=[osp.dirname(init)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _sync(device):
    if torch.device(device).type == 'cuda':
        torch.cuda.synchronize()


def decode_only(scda, paths, decode, args, workers):
    """Seconds to decode ``paths`` to uint8 batches on the device."""
    from mmtobias.scda.gpu_decode import NvjpegBatchDecoder
    size = args.input_size
    dataset = (scda.ImageListDataset(paths, size, min_size=4, decode=decode)
               if decode else scda.ImageListDataset(paths, size, min_size=4))
    loader = DataLoader(dataset, batch_size=args.batch_size,
                        num_workers=workers,
                        collate_fn=getattr(dataset, 'collate', None))
    decoder = (NvjpegBatchDecoder(dataset.decode_cpu, size, args.device)
               if decode == 'nvjpeg' else None)
    _sync(args.device)
    start = time.perf_counter()
    for batch in loader:
        imgs = decoder(batch)[1] if decoder else batch[1].to(args.device)
    _sync(args.device)
    del imgs
    return time.perf_counter() - start


def model_only(args, min_seconds):
    """Images/s of the network on a batch already on the device (at least
    3 batches and ``min_seconds``)."""
    from mmtobias.scda.pipeline import SCDANet
    from mmtobias.scda.runtime import resolve_precision
    device = torch.device(args.device)
    net = SCDANet(args.arch, 'kaiming', 0, args.input_size, 2, True, None,
                  device, resolve_precision(args.precision, device), True)
    imgs = torch.randint(0, 256, (args.batch_size, 3, args.input_size,
                                  args.input_size), dtype=torch.uint8,
                         device=device)
    for _ in range(2):
        net.launch(imgs)
    _sync(device)
    start, iters = time.perf_counter(), 0
    while iters < 3 or time.perf_counter() - start < min_seconds:
        net.launch(imgs)
        iters += 1
        if iters % 10 == 0:
            _sync(device)
    _sync(device)
    return iters * args.batch_size / (time.perf_counter() - start)


def end_to_end(scda, paths, root, decode, args, out):
    """Seconds of ``generate_masks`` at the default workers: the whole
    call, and its decode-and-compute loop (without the fixed costs:
    network construction, planning, writing the file)."""
    kwargs = dict(decode=decode) if decode else {}
    _sync(args.device)
    start = time.perf_counter()
    summary = scda.generate_masks(
        paths, root, out, arch=args.arch, input_size=args.input_size,
        batch_size=args.batch_size, precision=args.precision,
        device=args.device, reuse=False, progress=False, **kwargs)
    return time.perf_counter() - start, summary['seconds']


def agreement(out, ref_out):
    """Share of the reference run's foreground cells this run keeps."""
    from mmtobias.scda import MaskStore
    a, b = MaskStore(out), MaskStore(ref_out)
    keys = [k for k in b.keys() if b.is_valid(k) and a.is_valid(k)]
    fg_a = np.stack([a.foreground(k) for k in keys])
    fg_b = np.stack([b.foreground(k) for k in keys])
    return float((fg_a & fg_b).sum() / max(1, fg_b.sum()))


def run(args, paths=None, root=None, source=None):
    """All measurements; returns the result dict (also printed)."""
    import mmtobias.scda as scda
    from mmtobias.scda.runtime import default_workers_threads
    work_dir = args.work_dir or tempfile.mkdtemp(prefix='decode_bench_')
    if paths is None:
        paths, root, source = photo_set(args.images, args.num_images,
                                        work_dir)
    cuda = torch.device(args.device).type == 'cuda'
    runs = [(p, scda, p) for p in args.paths if cuda or p != 'nvjpeg']
    skipped = {p: f'needs CUDA (device {args.device})'
               for p in args.paths if p == 'nvjpeg' and not cuda}
    if args.ref:
        runs.insert(0, (f'pil@{args.ref}', load_ref(args.ref, work_dir),
                        None))
    result = dict(machine=machine(args.device), images=source,
                  num_images=len(paths), batch_size=args.batch_size,
                  arch=args.arch, input_size=args.input_size,
                  skipped=skipped, paths={})
    secs = {name: dict(decode=0.0, e2e=0.0, loop=0.0) for name, _, _ in runs}
    for r in range(args.rounds):
        # each round starts with another run, so that none is always first
        for name, module, decode in runs[r % len(runs):] + runs[:r % len(runs)]:
            workers = (default_workers_threads(args.device, None, None,
                                               decode)[0] if decode else
                       module.default_workers_threads(args.device)[0])
            secs[name]['workers'] = workers
            secs[name]['decode'] += decode_only(module, paths, decode, args,
                                                workers)
            if args.decode_only:
                continue
            wall, loop = end_to_end(module, paths, root, decode, args,
                                    osp.join(work_dir, f'{name}.tmask'))
            secs[name]['e2e'] += wall
            secs[name]['loop'] += loop
        print(f'round {r + 1}/{args.rounds} done', flush=True)
    if args.decode_only:
        n = len(paths) * args.rounds
        result['paths'] = {name: dict(workers=s['workers'],
                                      decode_only=n / s['decode'])
                           for name, s in secs.items()}
        for name, r in result['paths'].items():
            print(f"{name:<12}{r['workers']:>3} workers: decode-only "
                  f"{_rate(r['decode_only'])} images/s")
        return result
    model = model_only(args, min_seconds=0 if args.smoke else 2)
    for name, _, decode in runs:
        n = len(paths) * args.rounds
        decode_rate, e2e_rate = (n / secs[name]['decode'],
                                 n / secs[name]['e2e'])
        # ImageNet: the fixed costs once, then the loop's rate
        fixed = (secs[name]['e2e'] - secs[name]['loop']) / args.rounds
        imagenet = fixed + IMAGENET_SIZE * secs[name]['loop'] / n
        result['paths'][name] = dict(
            workers=secs[name]['workers'], decode_only=decode_rate,
            model_only=model, end_to_end=e2e_rate,
            loop=n / secs[name]['loop'], fixed_seconds=fixed,
            imagenet_minutes=imagenet / 60,
            fg_cells_kept_vs_pil=(agreement(
                osp.join(work_dir, f'{name}.tmask'),
                osp.join(work_dir, 'pil.tmask'))
                if 'pil' in secs else None))
    print_report(result)
    return result


def _rate(x):
    return f'{x:.0f}' if x >= 100 else f'{x:.1f}'


def print_report(result):
    """A table, then one line per path (what run_gpu_checks.sh greps)."""
    m = result['machine']
    print(f"\nmask decoding on GPU: {m['gpu'] or 'none'}; CPU: {m['cpu']}; "
          f"{result['arch']} at {result['input_size']}, batch "
          f"{result['batch_size']}; {result['images']}")
    print(f"{'path':<12}{'workers':>8}{'decode-only':>13}{'model-only':>12}"
          f"{'end to end':>12}{'(loop)':>10}{'ImageNet-1k':>13}"
          f"{'fg kept vs pil':>16}")
    for name, r in result['paths'].items():
        kept = r['fg_cells_kept_vs_pil']
        print(f"{name:<12}{r['workers']:>8}{_rate(r['decode_only']):>9} i/s"
              f"{_rate(r['model_only']):>8} i/s{_rate(r['end_to_end']):>8} i/s"
              f"{_rate(r['loop']):>6} i/s{r['imagenet_minutes']:>9.0f} min"
              f"{'' if kept is None else f'{100 * kept:.2f} %':>16}")
    for name, why in result['skipped'].items():
        print(f'{name:<12} skipped: {why}')
    for name, r in result['paths'].items():
        kept = r['fg_cells_kept_vs_pil']
        print(f"{name}: {_rate(r['end_to_end'])} images/s end to end "
              f"({_rate(r['decode_only'])} decode-only, "
              f"{_rate(r['model_only'])} model-only, {r['workers']} workers); "
              f"1.28 M images in {r['imagenet_minutes']:.1f} min"
              + ('' if kept is None else
                 f'; foreground cells agree with pil: {100 * kept:.2f} %'))
    print(f"goals on 16 cores + 1 GPU: >= {GOALS['floor']} images/s end to "
          f"end (floor), {GOALS['aim']} images/s (aim: ImageNet-1k in 3 min)")


def main(argv=None):
    args = parse_args(argv)
    import mmtobias  # noqa: F401  (compatibility fixes + registration)
    result = run(args)
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(result, f, indent=2)
    return result


if __name__ == '__main__':
    main()
