# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""Two dataloader-config traps of OpenMMLab configs: ``_scope_`` in ``collate_fn`` and
``persistent_workers`` with ``num_workers=0``.

What breaks: (1) a config that inherits ``mmpretrain::`` / ``mmdet::`` bases gets
``_scope_`` written into every dict with a ``type``, including ``collate_fn``, which
MMEngine then passes to the collate function as a keyword (``default_collate() got an
unexpected keyword argument '_scope_'``). (2) Every pretraining config sets
``persistent_workers=True``, and ``--cfg-options train_dataloader.num_workers=0`` is the
usual first step when debugging a pipeline; PyTorch then raises ``ValueError:
persistent_workers option needs num_workers > 0``.

Versions: MMEngine <= 0.10.7 (its last release) for (1), with configs that use
``mmpretrain::`` / ``mmdet::`` bases; every torch for (2).

The fix: ``Runner.build_dataloader`` gets a copy of the dataloader config with the
``_scope_`` key of ``collate_fn`` dropped, and with ``persistent_workers`` turned off,
with a warning, where ``num_workers`` is 0.

Detected / tested: on every dataloader the Runner builds.
``tests/test_utils/test_compat.py::test_num_workers_0_turns_persistent_workers_off``
and every training test with a ``mmpretrain::`` base.
"""
import functools
import logging

from ._applied import apply_once

__all__ = ['fix_collate_fn_scope']


def _fix_dataloader_cfg(dataloader):
    """The dataloader dict with the two config traps below removed (a copy)."""
    if not isinstance(dataloader, dict):
        return dataloader
    dataloader = dataloader.copy()
    if isinstance(dataloader.get('collate_fn'), dict):
        collate_fn = dict(dataloader['collate_fn'])
        collate_fn.pop('_scope_', None)
        dataloader['collate_fn'] = collate_fn
    if dataloader.get('persistent_workers') and dataloader.get('num_workers', 0) == 0:
        from mmengine.logging import print_log
        print_log(
            'num_workers=0 loads data in the main process, where there are no workers '
            'to keep: persistent_workers was turned off for this dataloader.',
            logger='current', level=logging.WARNING)
        dataloader['persistent_workers'] = False
    return dataloader


@apply_once
def fix_collate_fn_scope():
    """Clean every dataloader config in ``Runner.build_dataloader``."""
    from mmengine.runner import Runner

    original = Runner.build_dataloader  # a staticmethod, seen as a plain function

    @functools.wraps(original)
    def build_dataloader(dataloader, *args, **kwargs):
        return original(_fix_dataloader_cfg(dataloader), *args, **kwargs)

    Runner.build_dataloader = staticmethod(build_dataloader)
