# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""MMEngine Runner checkpoints under torch's ``weights_only=True`` default.

What breaks: torch >= 2.6 loads with ``weights_only=True`` by default, which rejects
MMEngine Runner checkpoints: their message hub pickles ``HistoryBuffer`` objects and the
numpy scalars, arrays and dtypes they hold (``torch.load`` fails with "Weights only
load failed"), so ``--resume``, ``load_checkpoint`` and every tool that reads a
pretraining checkpoint stop.

Versions: torch >= 2.6 with MMEngine (0.10.7, its last release, included); torch 2.4
and 2.5 have ``add_safe_globals`` but still default to ``weights_only=False``, where
the allow-list is harmless; torch < 2.4 has nothing to fix.

The fix: the exact classes are allow-listed with ``torch.serialization.add_safe_globals``;
``weights_only`` stays on, so arbitrary pickles are still refused.

Detected / tested: the fix applies whenever ``add_safe_globals`` exists.
``tests/test_utils/test_compat.py::test_runner_checkpoint_needs_and_gets_the_allow_list``
shows that a real Runner checkpoint fails to load without mmtobias and loads with it.
"""
import builtins

import numpy as np
import torch

from ._applied import apply_once

__all__ = ['allow_mmengine_checkpoints', 'mmengine_checkpoint_safe_globals']


def mmengine_checkpoint_safe_globals():
    """The objects an MMEngine Runner checkpoint pickles besides tensors."""
    from mmengine.logging.history_buffer import HistoryBuffer

    safe = [HistoryBuffer, np.dtype, np.ndarray, builtins.getattr]
    try:  # numpy >= 2
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:  # numpy 1.x
        from numpy.core.multiarray import _reconstruct, scalar
    safe += [_reconstruct, scalar]
    # numpy >= 1.25 pickles dtypes through their classes (numpy.dtypes.Float64DType ...)
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        safe += [
            getattr(dtypes, name) for name in dir(dtypes)
            if name.endswith('DType') and isinstance(getattr(dtypes, name), type)
        ]
    return safe


@apply_once
def allow_mmengine_checkpoints():
    """Allow-list :func:`mmengine_checkpoint_safe_globals` for ``torch.load``."""
    add_safe_globals = getattr(torch.serialization, 'add_safe_globals', None)
    if add_safe_globals is not None:  # torch < 2.4 has no weights_only default to fix
        add_safe_globals(mmengine_checkpoint_safe_globals())
