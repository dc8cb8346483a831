# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""Compute the Tobias masks (random-CNN SCDA maps) of a set of images.

The same function as the ``TobiasMaskGenerator`` hook
(:func:`~mmtobias.scda.ensure_masks`), for running it ahead of training. The
source is either a folder of images (searched recursively; the keys are paths
relative to it) or a training config, whose train dataset,
``TobiasMaskGenerator`` settings and mask file (``--out``, else the hook's
``mask_file``, else the config's top-level ``mask_file``) are used. Unlike the
hook, which keeps a matching file made with other settings (and warns), the
tool remakes it with the settings asked for.

Examples::

    python tools/generate_masks.py data/imagenet/train --out masks/in1k.tmask
    python tools/generate_masks.py configs/mocov2_tobias_r50.py \
        --cfg-options train_dataloader.dataset.data_root=data/imagenet/train \
        mask_file=masks/in1k.tmask
    bash tools/dist_generate_masks.sh data/imagenet/train 8 --out masks/in.tmask
    # bring masks of the released code / write them in its JSON format
    python tools/generate_masks.py released_mask_4x4.json --out m.tmask \
        --data-root data/small_imagenet/train
    python tools/generate_masks.py data/imagenet/train --out m.tmask \
        --export-json m.json

Only images that are new or changed since OUT was made (key, size and mtime
recorded per image) are computed; ``--force`` recomputes all. An interrupted
run resumes from its shard checkpoints (``OUT.shards/``) when started again
with the same arguments. OUT's folder is tested for writing before any image
is decoded; ``OUT.lock`` keeps a second run on the same OUT waiting until the
first has finished (``--lock-timeout``). On several nodes the maps are
gathered through torch.distributed and written by rank 0, so the work dir
need not be shared.
"""
import argparse
import os
import os.path as osp
import sys

import torch
from mmengine.config import Config, DictAction
from mmengine.dist import get_dist_info, init_dist
from mmengine.logging import MMLogger
from mmengine.registry import init_default_scope

import mmtobias  # noqa: F401  (compatibility fixes + registration)
from mmtobias.scda import (DECODES, INIT_SCHEMES, PRECISIONS, SCDA_ARCHS,
                           ScdaNetSettings, dataset_image_paths,
                           ensure_masks, export_released_json,
                           import_released_json, scan_images)
from mmtobias.utils import close_process_group

NET_KEYS = ScdaNetSettings.names()
# the other TobiasMaskGenerator settings, passed on to generate_masks
RUN_KEYS = ('batch_size', 'num_workers', 'num_threads', 'precision',
            'decode', 'shard_size', 'keep_shards', 'lock_timeout')


def parse_args():
    parser = argparse.ArgumentParser(
        description='Generate Tobias masks for a folder of images or the '
        'train dataset of a config.')
    parser.add_argument('source', help='IMAGE_DIR, a config file (.py) or a '
                        'released JSON mask file (.json) to import')
    parser.add_argument('--out', help='mask file to write (default with a '
                        "config: its mask_file)")
    parser.add_argument('--data-root', help='root the keys are relative to '
                        '(default: IMAGE_DIR / the dataset image folder)')
    parser.add_argument('--seed', type=int)
    parser.add_argument('--batch-size', type=int)
    parser.add_argument('--workers', type=int, dest='num_workers',
                        help='decoding processes per rank (default: from '
                        'the cores available to each rank: on CPU 0 with <= 2 '
                        'cores, else min(8, cores // 4); on CUDA '
                        'min(32, cores - 1), with --decode nvjpeg '
                        'min(8, cores - 1))')
    parser.add_argument('--threads', type=int, dest='num_threads',
                        help='torch compute threads on CPU (default: cores - '
                        'workers, capped by OMP_NUM_THREADS / the torch '
                        'default)')
    parser.add_argument('--arch', choices=SCDA_ARCHS)
    parser.add_argument('--init', choices=INIT_SCHEMES)
    parser.add_argument('--input-size', type=int)
    parser.add_argument('--layer4-stride', type=int, choices=[1, 2])
    parser.add_argument('--no-extra-pool', dest='extra_pool',
                        action='store_false', default=None,
                        help='drop the extra max-pool (7x7 grid at 224)')
    parser.add_argument('--grid', type=int,
                        help='adaptive max-pool to this grid (extension)')
    parser.add_argument('--precision', choices=PRECISIONS,
                        help="'auto' (default): bf16 where the hardware has "
                        'it, else fp32')
    parser.add_argument('--decode', choices=DECODES,
                        help="'pil': the released approach (full-size PIL "
                        "decode, bilinear resize); 'draft': JPEGs decoded at "
                        'a reduced DCT scale that keeps the input size; '
                        "'nvjpeg': JPEGs decoded and resized on the GPU in "
                        'batches, other files on the CPU (CUDA, opt-in); '
                        "'auto' (default): 'draft', measured to keep >= "
                        "99.9 %% of the released approach's foreground "
                        'cells; when updating OUT, the path it was made '
                        'with')
    parser.add_argument('--shard-size', type=int)
    parser.add_argument('--keep-shards', action='store_true', default=None)
    parser.add_argument('--device', help="e.g. 'cpu' (default: cuda if "
                        'available)')
    parser.add_argument('--export-json', help='also write OUT in the released '
                        'JSON format to this file')
    parser.add_argument('--force', action='store_true',
                        help='recompute every map, even if OUT matches the '
                        'images')
    parser.add_argument('--lock-timeout', type=float, metavar='SECONDS',
                        help='how long to wait for another process writing '
                        'OUT (default 3600)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    parser.add_argument('--launcher', default='none',
                        choices=['none', 'pytorch', 'slurm', 'mpi'])
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def from_config(args):
    """Image paths, data root, mask file (and how errors name it) and hook
    settings of a config. The mask file is ``--out``, else the hook's
    ``mask_file``, else the config's top-level ``mask_file``, as in training.
    """
    cfg = Config.fromfile(args.source)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    hooks = [h for h in cfg.get('custom_hooks', None) or []
             if h.get('type') in ('TobiasMaskGenerator',
                                  'mmpretrain.TobiasMaskGenerator')]
    hook = hooks[0] if hooks else {}
    settings = {k: v for k, v in hook.items() if k in NET_KEYS + RUN_KEYS}
    if args.out:
        out, option = args.out, '--out'
    elif hook.get('mask_file'):
        out = hook['mask_file']
        option = (f'--out (default: the mask_file of the '
                  f'TobiasMaskGenerator hook in {args.source})')
    else:
        out = cfg.get('mask_file')
        option = f'--out (default: the top-level mask_file of {args.source})'
    if not out:
        raise ValueError(f'{args.source} has no mask_file (top-level or in a '
                         f'TobiasMaskGenerator hook); pass --out.')
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    from mmpretrain.registry import DATASETS
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    paths, root = dataset_image_paths(dataset)
    root = hook.get('data_root') or root
    return paths, root, out, option, settings


def main():
    args = parse_args()
    if args.launcher != 'none':
        init_dist(args.launcher,
                  backend='nccl' if torch.cuda.is_available() else 'gloo')
    if args.source.endswith('.json'):
        if not args.out:
            raise SystemExit('--out is required to import a JSON mask file.')
        store = import_released_json(args.source, args.out, args.data_root)
        print(f'imported {len(store)} masks ({store.grid}x{store.grid}) from '
              f'{args.source} -> {args.out}')
        return 0
    logger = (MMLogger.get_instance('generate_masks')
              if MMLogger.check_instance_created('generate_masks') else
              MMLogger.get_instance('generate_masks', log_level='INFO'))
    if osp.isdir(args.source):
        if not args.out:
            raise SystemExit('--out is required when the source is a folder.')
        paths, root, out, option, settings = (
            scan_images(args.source), args.source, args.out, '--out', {})
    elif osp.isfile(args.source):
        paths, root, out, option, settings = from_config(args)
    else:
        raise SystemExit(f'{args.source} is neither a folder nor a config.')
    # Command-line values override the config's hook settings.
    settings.update({k: getattr(args, k) for k in NET_KEYS + RUN_KEYS
                     if getattr(args, k, None) is not None})
    net = ScdaNetSettings(**{k: settings.pop(k) for k in NET_KEYS
                             if k in settings})
    # The settings asked for are the file's: one made otherwise is redone.
    status = ensure_masks(paths, args.data_root or root, out, net,
                          force=args.force, match_settings=True,
                          device=args.device, out_option=option,
                          logger=logger, **settings)
    rank = get_dist_info()[0]
    summary = status.summary
    if rank == 0 and summary is not None:
        print(f"{summary['num_images']} images, "
              f"{summary['num_unreadable']} unreadable, "
              f"{summary['num_computed']} computed, "
              f"{summary['num_reused']} reused, "
              f"{summary['images_per_second']:.1f} img/s -> {out}")
    if args.export_json and rank == 0:
        num = export_released_json(out, args.export_json)
        print(f'exported {num} masks to {args.export_json}')
    return 0


if __name__ == '__main__':
    code = main()
    close_process_group()  # after success only: see mmtobias.utils.process_group
    sys.exit(code)
