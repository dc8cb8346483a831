# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""Throughput of the SCDA localizer (model only, and post-processing only).

Times ``SCDALocalizer.predict`` on random 224x224 batches (the network
forward of every seed plus the per-image threshold / connected component /
box step), and the post-processing alone, in this process with the
current torch thread count. End-to-end figures (decode + resize + model +
metric) come from ``tools/eval_localization.py`` (its ``img/s``).

    python tools/benchmarks/scda_localization.py [--batch 32] [--seeds 1] \
        [--iters 3] [--config CONFIG]

The last line reads ``model_img/s=... postprocess_img/s=...`` where one
"img" is one image through all seeds.
"""
import argparse
import os.path as osp
import time

import numpy as np
import torch
from mmengine.config import Config
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import mmtobias  # noqa: F401
from mmtobias.models.localizers import scda_box

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', default=osp.join(
        REPO, 'configs', 'scda_localization', 'scda_r50_kaiming_kangaroo.py'))
    parser.add_argument('--batch', type=int, default=32)
    parser.add_argument('--seeds', type=int, default=1)
    parser.add_argument('--iters', type=int, default=3)
    args = parser.parse_args()

    cfg = Config.fromfile(args.config)
    cfg.model.seeds = list(range(args.seeds))
    model = MODELS.build(cfg.model).eval()
    gen = torch.Generator().manual_seed(0)
    inputs = torch.randn(args.batch, 3, 224, 224, generator=gen)
    samples = [DataSample(metainfo=dict(img_shape=(224, 224)))
               for _ in range(args.batch)]
    model.predict(inputs[:2], samples[:2])  # warm-up
    start = time.perf_counter()
    for _ in range(args.iters):
        model.predict(inputs, samples)
    model_ips = args.batch * args.iters / (time.perf_counter() - start)

    maps = np.random.RandomState(0).rand(1000, 14, 14)
    start = time.perf_counter()
    for amap in maps:
        scda_box(amap, (224, 224))
    post_ips = len(maps) / (time.perf_counter() - start) / args.seeds
    print(f'threads={torch.get_num_threads()} batch={args.batch} '
          f'seeds={args.seeds} model_img/s={model_ips:.2f} '
          f'postprocess_img/s={post_ips:.0f}')


if __name__ == '__main__':
    main()
