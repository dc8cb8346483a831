# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""Train a model from a config: the stock OpenMMLab entry point, with mmtobias loaded.

Examples::

    python tools/train.py configs/mocov2_tobias_r50.py --work-dir work_dirs/tobias
    python tools/train.py CONFIG --resume                 # resume from the latest checkpoint
    bash tools/dist_train.sh CONFIG 8                     # 8 processes (GPUs, or CPU with gloo)
"""
import argparse
import os
import os.path as osp

from mmengine.config import Config, DictAction
from mmengine.runner import Runner

import mmtobias  # noqa: F401  (compatibility fixes + registration)
from mmtobias.utils import close_process_group


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a model with mmtobias')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the directory to save logs and checkpoints')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from the given checkpoint, or from the latest checkpoint in the '
        'work dir when no path is given')
    parser.add_argument(
        '--amp', action='store_true', help='enable automatic mixed precision (AmpOptimWrapper: '
        'fp16 on CUDA; without CUDA, bf16 autocast where the CPU computes bf16 natively, else '
        'float32)')
    parser.add_argument(
        '--no-validate', action='store_true', help='skip validation during training')
    parser.add_argument(
        '--auto-scale-lr', action='store_true', help='scale lr by the actual batch size')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings in the config, key=value (e.g. '
        'train_dataloader.dataset.data_root=DIR train_dataloader.batch_size=4)')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def merge_args(cfg, args):
    """Fold the command-line arguments into the config."""
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])

    if args.amp:
        optim_wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
        if optim_wrapper not in ('OptimWrapper', 'AmpOptimWrapper', 'AutocastOptimWrapper'):
            raise ValueError('--amp needs optim_wrapper.type OptimWrapper in the config, '
                             f'got {optim_wrapper!r}')
        # Without CUDA (NPU, MLU, MUSA), `import mmtobias` builds AmpOptimWrapper as
        # AutocastOptimWrapper: bf16 where the CPU computes it natively, else float32.
        if optim_wrapper != 'AutocastOptimWrapper':
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')

    if args.no_validate:
        cfg.val_cfg = None
        cfg.val_dataloader = None
        cfg.val_evaluator = None

    if args.auto_scale_lr:
        cfg.setdefault('auto_scale_lr', {})['enable'] = True

    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume

    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    return cfg


def main(argv=None):
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    cfg = merge_args(cfg, args)
    runner = Runner.from_cfg(cfg)
    runner.train()
    return runner


if __name__ == '__main__':
    main()
    close_process_group()  # after success only: see mmtobias.utils.process_group
