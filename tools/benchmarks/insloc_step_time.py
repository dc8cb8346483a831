# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""Train-step time of InsLoc R50-C4 and R50-FPN against MoCo v2, same batch.

One training step = data preprocessor, loss (query + key encoder, queue), backward
and an SGD step, on CPU. The three models see the very same batch (InsLoc
composites with their boxes; MoCo v2 ignores the boxes) and are timed round-robin
so that machine noise hits all of them alike; the median step is reported. Then
one profiled step per model says where the time goes (convolutions, BN,
RoIAlign, box augmentation, the rest).

Example (the last line carries the ratios)::

    python tools/benchmarks/insloc_step_time.py ../shared/data/kangaroo/images \\
        --batch 8 --steps 5 --threads 1
"""
import argparse
import os.path as osp
import time
from collections import defaultdict

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import default_collate
from mmengine.registry import init_default_scope

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

MOCOV2 = dict(
    type='MoCo',
    queue_len=65536,
    feat_dim=128,
    momentum=0.001,
    data_preprocessor=dict(
        type='SelfSupDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True),
    backbone=dict(type='ResNet', depth=50, norm_cfg=dict(type='BN')),
    neck=dict(type='MoCoV2Neck', in_channels=2048, hid_channels=2048,
              out_channels=128, with_avg_pool=True),
    head=dict(type='ContrastiveHead', loss=dict(type='CrossEntropyLoss'),
              temperature=0.2))

# profiler op name -> bucket
BUCKETS = [('conv', ('convolution', 'conv2d', 'mkldnn_conv')),
           ('batch_norm', ('batch_norm', )), ('roi_align', ('roi_align', )),
           ('box_aug', ('nms', 'bbox_overlaps', 'randperm')),
           ('linear/matmul', ('addmm', 'mm', 'matmul', 'linear', 'einsum',
                              'bmm')), ('ema', ('lerp', ))]


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('image_dir', nargs='?',
                        help='images to composite (default: random pixels)')
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--size', type=int, default=256,
                        help='composite size (InsLoc bg_size)')
    parser.add_argument('--steps', type=int, default=5)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--threads', type=int, default=None,
                        help='torch threads (1 is steadiest on a busy machine)')
    return parser.parse_args()


def make_batch(image_dir, batch, size):
    """One InsLoc batch: two views and their boxes."""
    if image_dir is None:
        g = torch.Generator().manual_seed(0)
        views = [torch.randint(0, 256, (batch, 3, size, size), generator=g,
                               dtype=torch.uint8) for _ in range(2)]
        wh = torch.randint(size // 2, size, (batch, 2, 2), generator=g)
        xy = (torch.rand(batch, 2, 2, generator=g) * (size - wh)).floor()
        boxes = torch.cat([xy, xy + wh], dim=2).numpy()
        from mmpretrain.structures import DataSample
        samples = [DataSample(gt_bboxes=b) for b in boxes]
        return dict(inputs=views, data_samples=samples)
    from mmpretrain.registry import DATASETS
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'insloc_r50-c4.py'))
    ds_cfg = cfg.train_dataloader.dataset
    ds_cfg.data_root = image_dir
    ds_cfg.pipeline[1].bg_size = size
    ds_cfg.pipeline[1].paste_size_range = (size // 2, size - 1)
    dataset = DATASETS.build(ds_cfg)
    np.random.seed(0)
    return default_collate([dataset[i] for i in range(batch)])


def build_models(batch):
    from mmpretrain.registry import MODELS
    models = {'mocov2': MODELS.build(MOCOV2)}
    for arch in ('c4', 'fpn'):
        cfg = Config.fromfile(
            osp.join(ROOT, 'configs', f'insloc_r50-{arch}.py'))
        models[f'insloc_{arch}'] = MODELS.build(cfg.model)
    for model in models.values():
        model.train()
        model.optim = torch.optim.SGD(
            model.parameters(), lr=0.03, momentum=0.9, weight_decay=1e-4)
    return models


def step(model, batch):
    data = model.data_preprocessor(batch, True)
    losses = model(**data, mode='loss')
    loss = sum(losses.values())
    model.optim.zero_grad()
    loss.backward()
    model.optim.step()


def breakdown(model, batch):
    """Seconds per bucket of one profiled step, by op self CPU time."""
    with torch.profiler.profile(
            activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        step(model, batch)
    out = defaultdict(float)
    for evt in prof.key_averages():
        name = evt.key.lower()
        bucket = next((b for b, keys in BUCKETS
                       if any(k in name for k in keys)), 'other')
        out[bucket] += evt.self_cpu_time_total / 1e6
    return out


def main():
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    init_default_scope('mmpretrain')
    import mmtobias  # noqa: F401
    torch.manual_seed(0)
    batch = make_batch(args.image_dir, args.batch, args.size)
    models = build_models(args.batch)
    times = defaultdict(list)
    for it in range(args.warmup + args.steps):
        for name, model in models.items():
            start = time.perf_counter()
            step(model, batch)
            if it >= args.warmup:
                times[name].append(time.perf_counter() - start)
    med = {name: float(np.median(t)) for name, t in times.items()}
    print(f'batch {args.batch} x 2 views x {args.size}px, '
          f'{torch.get_num_threads()} thread(s), median of {args.steps} steps')
    for name, model in models.items():
        parts = breakdown(model, batch)
        total = sum(parts.values())
        detail = ', '.join(f'{k} {v / total:.0%}'
                           for k, v in sorted(parts.items(),
                                              key=lambda kv: -kv[1]))
        print(f'{name:11s} {med[name]:7.3f} s/step   profile: {detail}')
    print(f"mocov2={med['mocov2']:.3f}s insloc_c4={med['insloc_c4']:.3f}s "
          f"insloc_fpn={med['insloc_fpn']:.3f}s "
          f"ratio_c4={med['insloc_c4'] / med['mocov2']:.2f} "
          f"ratio_fpn={med['insloc_fpn'] / med['mocov2']:.2f}")


if __name__ == '__main__':
    main()
