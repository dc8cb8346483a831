# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""Write the checkpoint a pretraining run starts from: its "random init" baseline.

The config's Runner is built as ``tools/train.py`` builds it (same seed handling, same
dataloader and hooks) and started; the Runner initialises the model itself
(``init_weights()``, then ``load_or_resume()``), and at the first ``before_train``
hook, before any step, the model is saved and the run stops. So the weights are
exactly those the run's first step starts from (mmtobias's ``before_train`` hooks do
not change weights), e.g. with the config's ``zero_init_residual``, not a library
default. The checkpoint holds ``state_dict`` (``backbone.*``, ``neck.*``, ...) like a
pretraining checkpoint: ``tools/model_converters/ssl_to_mmdet.py`` and
``tools/det_train.py`` take it as they take a trained one.

Example::

    python tools/initial_checkpoint.py configs/mocov2_r50.py work_dirs/mocov2_init.pth \\
        --cfg-options randomness.seed=1 train_dataloader.dataset.data_root=data/images
"""
import argparse
import os
import os.path as osp

import torch
from mmengine.config import Config, DictAction
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner
from mmengine.runner.checkpoint import weights_to_cpu

import mmtobias  # noqa: F401  (compatibility fixes + registration)


class _Saved(Exception):
    """Raised by :class:`SaveInitialWeights` to stop the run before its first step."""


class SaveInitialWeights(Hook):
    """Save the model at ``before_train`` (before every other hook) and stop the run.

    Args:
        out (str): the checkpoint to write (atomically).
    """

    priority = 'HIGHEST'

    def __init__(self, out):
        self.out = out

    def before_train(self, runner):
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        meta = dict(config=str(runner.cfg.filename), seed=int(runner.seed),
                    stage='initial weights: after the Runner initialised the model, '
                    'before the first step')
        os.makedirs(osp.dirname(osp.abspath(self.out)), exist_ok=True)
        tmp = f'{self.out}.{os.getpid()}.tmp'
        torch.save(dict(state_dict=weights_to_cpu(model.state_dict()), meta=meta), tmp)
        os.replace(tmp, self.out)
        raise _Saved


def save_initial_checkpoint(cfg, out):
    """Start a Runner of ``cfg`` and save its model as the first step would see it.

    Args:
        cfg (Config): a training config (its ``work_dir`` receives the Runner's log).
        out (str): the checkpoint to write.

    Returns:
        str: ``out``.
    """
    runner = Runner.from_cfg(cfg)
    runner.register_hook(SaveInitialWeights(out))
    try:
        runner.train()
    except _Saved:
        return out
    raise RuntimeError(f'{cfg.filename}: training ended without a before_train call, so '
                       f'{out} was not written')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='pretraining config, e.g. configs/mocov2_r50.py')
    parser.add_argument('out', help='the checkpoint to write')
    parser.add_argument('--work-dir', help='for the Runner log (default: '
                        'work_dirs/<config name>_initial)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries as tools/train.py does, e.g. '
                        'randomness.seed=1')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    cfg.launcher = 'none'
    cfg.resume = False
    cfg.work_dir = args.work_dir or osp.join(
        'work_dirs', osp.splitext(osp.basename(args.config))[0] + '_initial')
    save_initial_checkpoint(cfg, args.out)
    print(f'{args.out}: the initial weights of {args.config} (seed '
          f"{cfg.get('randomness', {}).get('seed')})", flush=True)
    return args.out


if __name__ == '__main__':
    main()
