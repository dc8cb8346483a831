# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""Test (evaluate) a model from a config: the stock OpenMMLab entry point with mmtobias.

Examples::

    python tools/test.py configs/scda_localization/scda_r50_kaiming_kangaroo.py
    python tools/test.py CONFIG CHECKPOINT --work-dir W
    bash tools/dist_test.sh CONFIG CHECKPOINT 8
"""
import argparse
import os
import os.path as osp

from mmengine.config import Config, DictAction
from mmengine.runner import Runner

import mmtobias  # noqa: F401  (compatibility fixes + registration)
from mmtobias.utils import close_process_group


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Evaluate a model with mmtobias')
    parser.add_argument('config', help='test config file path')
    parser.add_argument(
        'checkpoint', nargs='?', default=None,
        help='checkpoint file (optional: random-init models such as the SCDA '
        'localizer need none)')
    parser.add_argument('--work-dir', help='the directory to save logs and results')
    parser.add_argument(
        '--out', help='dump the metrics (JSON) to this file')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings in the config, key=value')
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


def main(argv=None):
    """Returns ``(metrics, runner)``, for callers that inspect the tested model."""
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    if args.checkpoint is not None:
        cfg.load_from = args.checkpoint
    runner = Runner.from_cfg(cfg)
    metrics = runner.test()
    if args.out:
        from mmengine.fileio import dump
        dump(metrics, args.out)
    return metrics, runner


if __name__ == '__main__':
    main()
    close_process_group()  # after success only: see mmtobias.utils.process_group
