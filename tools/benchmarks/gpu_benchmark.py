# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""GPU benchmark: mask generation and pretraining step times, ratios in one run.

Four measurements, each on the same device, images and process:

1. **Tobias masks**, end to end (network construction, JPEG decoding, file on
   disk): mmtobias's generator (batched, ``--mask-precision auto``: bf16 where
   the GPU has it, decoding in ``--mask-workers`` processes) against the
   released approach (one process, PIL decode, batch 1, fp32, JSON), which
   runs on every ``k``-th image of the same set (``--baseline-images``).
   Goal: >= 2,200 images/s, i.e. ImageNet-1k (1.28 M images) in <= 10 min.
2. **MoCo v2 step time with Tobias against without**, data pipeline included:
   the real configs through MMEngine's Runner (``--step-workers`` DataLoader
   workers, batch ``--step-batch``), mean wall time of an iteration (data wait
   + forward + backward + update) after ``--warmup`` iterations.
   Goal: Tobias <= 1.02x MoCo v2.
3. **InsLoc-C4 against MoCo v2**, the same way.
4. **Mask decoding paths** on real photos (``--photos``, default the ~300
   photos ``.dev_scripts/gpu_lease/pack_photos.py`` packs into
   ``.gpu_wheelhouse/photos`` when that folder exists, else the images of 1.):
   decode-only, model-only and end-to-end images/s of 'pil', 'draft' and
   'nvjpeg' at the default workers, the time for 1.28 M images, GPU and CPU
   named (``tools/benchmarks/mask_decode_benchmark.py``; 'nvjpeg' is
   skipped, and named, without CUDA).

Without ``--image-dir`` it writes ``--num-images`` synthetic JPEGs (an object
on a textured background, ``--image-size``, ImageNet's typical 500x375 by
default) into the work dir. ``--smoke`` shrinks everything (ResNet-18 models,
a few tiny images) so the script itself is tested on a CPU.

Examples::

    python tools/benchmarks/gpu_benchmark.py --out gpu_benchmark.json
    python tools/benchmarks/gpu_benchmark.py --image-dir data/imagenet/train --num-images 20000
    python tools/benchmarks/gpu_benchmark.py --smoke --device cpu --out smoke.json
"""
import argparse
import importlib.util
import json
import multiprocessing
import os
import os.path as osp
import platform
import tempfile
import time

import numpy as np
import torch
import torch.nn as nn
from PIL import Image

HERE = osp.dirname(osp.abspath(__file__))
REPO = osp.dirname(osp.dirname(HERE))
MASK_GOAL = 2200  # images/s: 1.28 M images in <= 10 minutes
MASK_AIM = 7000  # images/s: <= 3 minutes, near an H100's JPEG decoders
TOBIAS_GOAL = 1.02  # Tobias step time / MoCo v2 step time
IMAGENET_SIZE = 1_281_167
PACKED_PHOTOS = osp.join(REPO, '.gpu_wheelhouse', 'photos')


def _load_tool(name):
    """A script of tools/benchmarks/ (or ``../NAME`` of tools/) as a module."""
    spec = importlib.util.spec_from_file_location(
        osp.basename(name), osp.join(HERE, f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def available_cpus():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu',
                        help='cuda or cpu (default: cuda when available)')
    parser.add_argument('--image-dir', help='images to use (default: synthetic JPEGs)')
    parser.add_argument('--num-images', type=int, default=10000,
                        help='images for the generator (and synthetic images to write)')
    parser.add_argument('--image-size', type=int, nargs=2, default=(500, 375),
                        metavar=('W', 'H'), help='size of the synthetic images')
    parser.add_argument('--baseline-images', type=int, default=2000,
                        help='images for the released approach (every k-th of the set)')
    parser.add_argument('--mask-workers', type=int, nargs='+',
                        help='decode processes of the generator; several values are '
                        'measured one after the other (default: the CPUs available - 1, '
                        'at most 16)')
    parser.add_argument('--mask-batch-size', type=int, default=128)
    parser.add_argument('--mask-precision', default='auto', choices=['auto', 'bf16', 'fp32'])
    parser.add_argument('--step-batch', type=int, default=32,
                        help='images per iteration (the configs use 32 per GPU)')
    parser.add_argument('--step-workers', type=int,
                        help='DataLoader workers of the pretraining runs (default: the '
                        'CPUs available - 1, at most 16)')
    parser.add_argument('--warmup', type=int, default=10)
    parser.add_argument('--iters', type=int, default=40, help='timed iterations per run')
    parser.add_argument('--repeats', type=int, default=1,
                        help='run the three configs this many times in turn (means over '
                        'repeats reduce drift)')
    parser.add_argument('--amp', action='store_true', help='pretraining runs with --amp')
    parser.add_argument('--photos', default=PACKED_PHOTOS if osp.isdir(PACKED_PHOTOS) else None,
                        help='real photos for the decoding paths (default: '
                        '.gpu_wheelhouse/photos when present, else the mask images)')
    parser.add_argument('--decode-images', type=int, default=20000,
                        help='images per decoding path (the photos cycled through symlinks)')
    parser.add_argument('--skip', nargs='+', default=[], choices=['masks', 'steps', 'decode'])
    parser.add_argument('--work-dir', help='default: a temporary folder')
    parser.add_argument('--out', help='write the results as JSON here')
    parser.add_argument('--smoke', action='store_true',
                        help='tiny settings (ResNet-18, 12 small images): tests the script')
    args = parser.parse_args(argv)
    cpus = available_cpus()
    if args.smoke:
        args.num_images = min(args.num_images, 12)
        args.image_size = (64, 48)
        args.baseline_images = min(args.baseline_images, 4)
        args.mask_workers = args.mask_workers or [0]
        args.mask_batch_size = 4
        args.step_batch = 2
        args.step_workers = 0 if args.step_workers is None else args.step_workers
        args.warmup, args.iters = 1, 2
        args.decode_images = min(args.decode_images, 12)
    args.mask_workers = args.mask_workers or [max(1, min(16, cpus - 1))]
    if args.step_workers is None:
        args.step_workers = max(1, min(16, cpus - 1))
    for name in ('num_images', 'baseline_images', 'mask_batch_size', 'step_batch', 'iters',
                 'repeats', 'decode_images'):
        if getattr(args, name) < 1:
            parser.error(f'--{name.replace("_", "-")} must be >= 1, got {getattr(args, name)}')
    if args.device.startswith('cuda') and not torch.cuda.is_available():
        parser.error('--device cuda, but torch.cuda.is_available() is False; '
                     'use --device cpu (with --smoke for a quick check)')
    return args


# --------------------------------------------------------------------------- images
def _object_image(args):
    """One synthetic photo-like image: a textured object on a smooth, noisy
    background (so JPEG sizes and decode times resemble real photos)."""
    path, w, h, seed = args
    rng = np.random.default_rng(seed)
    # background: a coarse random colour field, upsampled smoothly, plus grain
    coarse = rng.integers(0, 256, (4, 5, 3)).astype(np.uint8)
    img = np.asarray(Image.fromarray(coarse).resize((w, h), Image.BICUBIC), np.float32)
    img += rng.normal(0, 12, (h, w, 3))
    # object: an ellipse of its own colour and texture, 15-60 % of the width
    cy, cx = rng.uniform(0.3, 0.7) * h, rng.uniform(0.3, 0.7) * w
    ry, rx = rng.uniform(0.15, 0.35) * h, rng.uniform(0.15, 0.35) * w
    yy, xx = np.mgrid[:h, :w]
    inside = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
    stripes = 40 * np.sin(xx / rng.uniform(2, 8) + yy / rng.uniform(2, 8))
    colour = rng.integers(0, 256, 3)
    img[inside] = colour + stripes[inside, None] + rng.normal(0, 20, (inside.sum(), 3))
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(path, quality=90)
    return path


def make_object_images(root, num, size=(500, 375), seed=0, classes=10, processes=None):
    """Write ``num`` synthetic JPEGs under ``root/cNN/`` (ImageNet layout).

    Returns:
        list[str]: the paths, sorted.
    """
    w, h = size
    jobs = []
    for i in range(num):
        folder = osp.join(root, f'c{i % classes:02d}')
        os.makedirs(folder, exist_ok=True)
        jobs.append((osp.join(folder, f'img_{i:06d}.jpg'), w, h, seed * 1_000_003 + i))
    processes = processes or min(16, available_cpus())
    if num < 64 or processes <= 1:
        return sorted(map(_object_image, jobs))
    # fork: the workers only need numpy and PIL, and this module may have been loaded
    # from its path (not importable by name in a spawned process)
    with multiprocessing.get_context('fork').Pool(processes) as pool:
        return sorted(pool.map(_object_image, jobs, chunksize=64))


# --------------------------------------------------------------------------- masks
def bench_masks(args, paths, root, work_dir, device):
    from mmtobias.scda import MaskStore, generate_masks, top_fraction_mask
    step = max(1, len(paths) // args.baseline_images)
    subset = paths[::step][:args.baseline_images]
    if torch.device(device).type == 'cuda':  # CUDA context and cuDNN ready for both
        conv = nn.Conv2d(3, 8, 3).to(device)
        conv(torch.zeros(1, 3, 32, 32, device=device)).sum().item()
    # the released generate_mask.py way: PIL, one fp32 forward per image, JSON
    secs, released = _load_tool('mask_generation').released_baseline(
        subset, root, osp.join(work_dir, 'released.json'), 0, device)
    result = dict(
        num_images=len(paths), image_root=root,
        baseline=dict(approach='released (one process, PIL, batch 1, fp32, JSON)',
                      num_images=len(subset), seconds=secs,
                      images_per_second=len(subset) / secs),
        generator=[])
    print(f"masks, released approach: {len(subset)} images in {secs:.1f} s = "
          f"{len(subset) / secs:.1f} img/s (batch 1, fp32, one process)", flush=True)
    for workers in args.mask_workers:
        out = osp.join(work_dir, f'masks_w{workers}.tmask')
        if torch.device(device).type == 'cuda':
            torch.cuda.synchronize()
        start = time.perf_counter()
        info = generate_masks(paths, root, out, seed=0, batch_size=args.mask_batch_size,
                              num_workers=workers, precision=args.mask_precision,
                              device=device, progress=False)
        secs = time.perf_counter() - start
        store = MaskStore(out)
        keys = [k for k in released if store.is_valid(k)]
        agree = np.mean([
            (top_fraction_mask(np.asarray(released[k])) & store.foreground(k)).sum()
            / max(1, top_fraction_mask(np.asarray(released[k])).sum()) for k in keys])
        speed = len(paths) / secs
        result['generator'].append(dict(
            workers=workers, batch_size=args.mask_batch_size,
            precision=store.meta['precision'], seconds=secs, images_per_second=speed,
            loop_images_per_second=info['images_per_second'],
            imagenet_minutes=IMAGENET_SIZE / speed / 60,
            ratio_to_released=speed / result['baseline']['images_per_second'],
            foreground_agreement_with_released=float(agree)))
        print(f"masks, mmtobias generator: {len(paths)} images in {secs:.1f} s = "
              f"{speed:.1f} img/s end to end ({store.meta['precision']}, batch "
              f"{args.mask_batch_size}, {workers} decode workers), "
              f"{speed / result['baseline']['images_per_second']:.2f}x the released "
              f"approach; ImageNet-1k in {IMAGENET_SIZE / speed / 60:.1f} min; "
              f"foreground cells shared with the released fp32 maps: {100 * agree:.2f} %",
              flush=True)
    best = max(result['generator'], key=lambda g: g['images_per_second'])
    result['best'] = best
    return result


# --------------------------------------------------------------------------- steps
STEP_CONFIGS = dict(mocov2='configs/mocov2_r50.py', tobias='configs/mocov2_tobias_r50.py',
                    insloc_c4='configs/insloc_r50-c4.py')


def _smoke_model(cfg, name):
    model = cfg.model
    model.backbone.update(depth=18)
    model.neck.update(in_channels=512, hid_channels=32)
    if name == 'insloc_c4':
        model.queue_len = 64
        cfg.train_dataloader.dataset.pipeline[1].update(bg_size=64, paste_size_range=(32, 63))
    else:
        model.neck.update(out_channels=16)
        model.update(feat_dim=16, queue_len=16)


def step_config(name, args, data_root, work_dir, device):
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(REPO, STEP_CONFIGS[name]))
    cfg.work_dir = osp.join(work_dir, name)
    cfg.launcher = 'none'
    cfg.train_dataloader.dataset.data_root = data_root
    cfg.train_dataloader.update(batch_size=args.step_batch, num_workers=args.step_workers,
                                persistent_workers=args.step_workers > 0, drop_last=True)
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=args.warmup + args.iters)
    cfg.param_scheduler = None
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=10**9,
                                        save_last=False)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=10**9)
    cfg.env_cfg = dict(cfg.get('env_cfg', {}), cudnn_benchmark=True)
    cfg.randomness = dict(seed=0)
    cfg.log_level = 'WARNING'
    for hook in cfg.get('custom_hooks', []):
        if hook['type'] == 'TobiasMaskGenerator':
            cfg.mask_file = osp.join(work_dir, 'tobias_masks.tmask')  # the one place
            if args.smoke:
                hook.update(arch='resnet18', num_workers=0, batch_size=4)
    if args.smoke:
        _smoke_model(cfg, name)
    if args.amp:  # what tools/train.py --amp does
        train = _load_tool(osp.join('..', 'train'))
        cfg = train.merge_args(cfg, train.parse_args([STEP_CONFIGS[name], '--amp']))
    return cfg


def time_steps(cfg, warmup, device):
    """Mean wall time of the iterations after ``warmup`` (seconds)."""
    from mmengine.hooks import Hook
    from mmengine.runner import Runner

    stamps = []

    class StepTimer(Hook):
        priority = 'LOWEST'

        def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
            if torch.device(device).type == 'cuda':
                torch.cuda.synchronize()
            stamps.append(time.perf_counter())

    cfg.experiment_name = f'{osp.basename(cfg.work_dir)}_{time.time_ns()}'
    runner = Runner.from_cfg(cfg)
    runner.register_hook(StepTimer(), priority='LOWEST')
    runner.train()
    steps = np.diff(stamps[warmup - 1:]) if warmup >= 1 else np.diff(stamps)
    return dict(mean=float(steps.mean()), median=float(np.median(steps)),
                std=float(steps.std()), iters=int(len(steps)))


def bench_steps(args, data_root, work_dir, device):
    runs = {name: [] for name in STEP_CONFIGS}
    for r in range(args.repeats):
        for name in STEP_CONFIGS:
            cfg = step_config(name, args, data_root, work_dir, device)
            timing = time_steps(cfg, args.warmup, device)
            runs[name].append(timing)
            print(f'step time, {name} (repeat {r + 1}/{args.repeats}): '
                  f"{1000 * timing['mean']:.1f} ms mean, {1000 * timing['median']:.1f} ms "
                  f"median over {timing['iters']} iterations (batch {args.step_batch}, "
                  f'{args.step_workers} workers)', flush=True)
    mean = {name: float(np.mean([t['mean'] for t in ts])) for name, ts in runs.items()}
    return dict(batch=args.step_batch, workers=args.step_workers, amp=args.amp,
                warmup=args.warmup, iters=args.iters, repeats=args.repeats, runs=runs,
                mean_seconds=mean, tobias_ratio=mean['tobias'] / mean['mocov2'],
                insloc_c4_ratio=mean['insloc_c4'] / mean['mocov2'])


# --------------------------------------------------------------------------- decoding
def bench_decode(args, paths, root, source, work_dir, device):
    """The decoding paths (mask_decode_benchmark.py) on the photos."""
    bench = _load_tool('mask_decode_benchmark')
    argv = ['--images', args.photos or root, '--num-images', str(args.decode_images),
            '--device', device, '--work-dir', osp.join(work_dir, 'decode')]
    dargs = bench.parse_args(argv + (['--smoke'] if args.smoke else []))
    if args.photos:
        return bench.run(dargs)
    return bench.run(dargs, paths[:args.decode_images], root, source)


# --------------------------------------------------------------------------- main
def device_name(device):
    if torch.device(device).type == 'cuda':
        index = torch.device(device).index or 0
        return torch.cuda.get_device_name(index)
    name = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            name = next(ln.split(':', 1)[1].strip() for ln in f if ln.startswith('model name'))
    except (OSError, StopIteration):
        pass
    return f'CPU: {name}'


def main(argv=None):
    args = parse_args(argv)
    import mmtobias  # noqa: F401  (compatibility fixes + registration)
    device = args.device
    work_dir = args.work_dir or tempfile.mkdtemp(prefix='gpu_bench_')
    os.makedirs(work_dir, exist_ok=True)
    name = device_name(device)
    print(f'device: {name}; torch {torch.__version__} (CUDA {torch.version.cuda}); '
          f'{available_cpus()} CPUs; work dir {work_dir}', flush=True)

    if args.image_dir:
        from mmtobias.scda import scan_images
        all_paths = scan_images(args.image_dir)
        step = max(1, len(all_paths) // args.num_images)
        paths = all_paths[::step][:args.num_images]
        root, source = osp.abspath(args.image_dir), f'{len(all_paths)} images in {args.image_dir}'
    else:
        root = osp.join(work_dir, 'images')
        start = time.perf_counter()
        paths = make_object_images(root, args.num_images, tuple(args.image_size))
        source = (f'{len(paths)} synthetic {args.image_size[0]}x{args.image_size[1]} JPEGs '
                  f'(written in {time.perf_counter() - start:.1f} s)')
    print(f'images: {source}', flush=True)

    results = dict(device=name, device_arg=device, torch=torch.__version__,
                   cuda=torch.version.cuda, cpus=available_cpus(), smoke=args.smoke,
                   images=source, goals=dict(mask_images_per_second=MASK_GOAL,
                                             tobias_step_ratio=TOBIAS_GOAL))
    if 'masks' not in args.skip:
        results['masks'] = bench_masks(args, paths, root, work_dir, device)
    if 'steps' not in args.skip:
        results['steps'] = bench_steps(args, root, work_dir, device)
    if 'decode' not in args.skip:
        results['decode'] = bench_decode(args, paths, root, source, work_dir, device)

    print(f'\nsummary on {name}:')
    if 'masks' in results:
        best = results['masks']['best']
        ok = best['images_per_second'] >= MASK_GOAL
        print(f"  masks: {best['images_per_second']:.0f} img/s end to end with "
              f"{best['workers']} decode workers ({best['precision']}), "
              f"{best['ratio_to_released']:.2f}x the released approach "
              f"({results['masks']['baseline']['images_per_second']:.1f} img/s); "
              f'goal >= {MASK_GOAL} img/s: {"met" if ok else "NOT met"}')
        results['goals']['mask_met'] = ok
    if 'steps' in results:
        st = results['steps']
        ok = st['tobias_ratio'] <= TOBIAS_GOAL
        print(f"  MoCo v2 step {1000 * st['mean_seconds']['mocov2']:.1f} ms, + Tobias "
              f"{1000 * st['mean_seconds']['tobias']:.1f} ms = {st['tobias_ratio']:.3f}x "
              f'(goal <= {TOBIAS_GOAL}x: {"met" if ok else "NOT met"}); InsLoc-C4 '
              f"{1000 * st['mean_seconds']['insloc_c4']:.1f} ms = {st['insloc_c4_ratio']:.3f}x")
        results['goals']['tobias_met'] = ok
    if 'decode' in results:
        for path, r in results['decode']['paths'].items():
            print(f"  masks, decode {path}: {r['end_to_end']:.0f} img/s end to end "
                  f"({r['decode_only']:.0f} decode-only, {r['model_only']:.0f} model-only, "
                  f"{r['workers']} workers); ImageNet-1k in {r['imagenet_minutes']:.1f} min")
        for path, why in results['decode']['skipped'].items():
            print(f'  masks, decode {path}: skipped ({why})')
        best = max(results['decode']['paths'].items(), key=lambda kv: kv[1]['end_to_end'])
        floor, aim = MASK_GOAL, MASK_AIM
        print(f"  masks, best decoding path {best[0]}: {best[1]['end_to_end']:.0f} img/s; "
              f'floor >= {floor} img/s: {"met" if best[1]["end_to_end"] >= floor else "NOT met"}'
              f', aim >= {aim} img/s: {"met" if best[1]["end_to_end"] >= aim else "NOT met"}')
        results['goals'].update(decode_floor_met=best[1]['end_to_end'] >= floor,
                                decode_aim_met=best[1]['end_to_end'] >= aim)
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(results, f, indent=2)
        print(f'results: {args.out}')
    return results


if __name__ == '__main__':
    main()
