# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""Running the tools in-process: a script as a module, the state of a first step."""
import importlib.util
import os.path as osp


def load_script(path):
    """Import a script (``tools/det_train.py``) as a module, to call its ``main(argv)``."""
    name = osp.splitext(osp.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _FirstStepReached(Exception):
    """Raised by :func:`first_step_state`'s hook to stop the run."""


def first_step_state(cfg):
    """The model state a training run of ``cfg`` starts its first step from.

    ``Runner.from_cfg(cfg).train()`` runs until the first ``before_train_iter`` (after
    the Runner's init and load, every ``before_train`` hook and the first batch); the
    state is copied there and the run stopped. Build ``cfg`` as the entry point does
    (e.g. ``tools/train.py``'s ``merge_args``).

    Returns:
        dict[str, Tensor]: a copy of ``model.state_dict()``.
    """
    from mmengine.hooks import Hook
    from mmengine.model import is_model_wrapper
    from mmengine.runner import Runner

    state = {}

    class KeepFirstStep(Hook):
        priority = 'LOWEST'

        def before_train_iter(self, runner, batch_idx, data_batch=None):
            model = runner.model.module if is_model_wrapper(runner.model) else runner.model
            state.update({k: v.detach().clone() for k, v in model.state_dict().items()})
            raise _FirstStepReached

    runner = Runner.from_cfg(cfg)
    runner.register_hook(KeepFirstStep())
    try:
        runner.train()
    except _FirstStepReached:
        return state
    raise RuntimeError(f'{cfg.filename} trained without a single iteration')
