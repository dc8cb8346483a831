# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""Compatibility fixes for the OpenMMLab 2.x stack on a current toolchain.

Applied once by ``import mmtobias`` (so also through ``custom_imports`` in a config),
in the order of :func:`apply_all`; nobody has to set an environment variable. Each fix
is one module, whose docstring says what breaks, which versions need the fix, and how
it is detected and tested; each is a named function that is safe to call twice and only
changes behaviour in the situation it is written for:

- :mod:`.mmpretrain_multimodal` (:func:`turn_off_broken_mmpretrain_multimodal`):
  mmpretrain <= 1.2.0 does not import under transformers >= 4.52 (5.x included): its
  multimodal part is turned off, with one warning. First, before anything below can
  import ``mmpretrain.models``.
- :mod:`.mmengine_checkpoints` (:func:`allow_mmengine_checkpoints`): torch >= 2.6's
  ``weights_only=True`` default rejects MMEngine Runner checkpoints; their classes are
  allow-listed, ``weights_only`` stays on.
- :mod:`.cpu_distributed` (:func:`enable_cpu_distributed`): MMEngine's launcher and
  DDP wrapper assume CUDA; without it: gloo, no device ids, SyncBN as BN.
- :mod:`.mmselfsup_double_registration` (:func:`tolerate_mmselfsup_double_registration`):
  mmselfsup 1.0.0 and mmpretrain both register ``ResLayerExtraNorm`` into mmdet's
  MODELS; the first is kept.
- :mod:`.dataloader_cfg` (:func:`fix_collate_fn_scope`): ``_scope_`` in ``collate_fn``
  dicts, and ``persistent_workers=True`` with ``num_workers=0``.
- :mod:`.numpy2_adjust_hue` (:func:`fix_numpy2_adjust_hue`): mmcv's ``adjust_hue``
  raises ``OverflowError`` for a negative hue factor under numpy 2.
- :mod:`.mmselfsup_registry_locations` (:func:`fix_mmselfsup_registry_locations`):
  mmselfsup 1.0.0's registries name ``mmselfsup.engine.runner``, which its wheel lacks.
- :mod:`.amp_without_cuda` (:func:`run_amp_optim_wrapper_without_cuda`): MMEngine's
  ``AmpOptimWrapper`` asserts a GPU; on a CPU it is built as ``AutocastOptimWrapper``.

The helpers of the fixes' modules stay reachable from this package
(``compat._installed_version``, ``compat._ORIGINAL_ADJUST_HUE`` ...); to monkeypatch
one, patch the module that uses it.
"""
from . import (_applied, amp_without_cuda, cpu_distributed, dataloader_cfg,
               mmengine_checkpoints, mmpretrain_multimodal, mmselfsup_double_registration,
               mmselfsup_registry_locations, numpy2_adjust_hue)
from ._applied import apply_once
from .amp_without_cuda import cpu_computes_bf16, run_amp_optim_wrapper_without_cuda
from .cpu_distributed import enable_cpu_distributed
from .dataloader_cfg import fix_collate_fn_scope
from .mmengine_checkpoints import allow_mmengine_checkpoints, mmengine_checkpoint_safe_globals
from .mmpretrain_multimodal import (mmpretrain_multimodal_blocker,
                                    mmpretrain_multimodal_status,
                                    turn_off_broken_mmpretrain_multimodal)
from .mmselfsup_double_registration import tolerate_mmselfsup_double_registration
from .mmselfsup_registry_locations import fix_mmselfsup_registry_locations
from .numpy2_adjust_hue import fix_numpy2_adjust_hue

# applied in this order by apply_all
FIXES = (
    # first: before anything below can import mmpretrain.models
    turn_off_broken_mmpretrain_multimodal,
    allow_mmengine_checkpoints,
    enable_cpu_distributed,
    tolerate_mmselfsup_double_registration,
    fix_collate_fn_scope,
    fix_numpy2_adjust_hue,
    fix_mmselfsup_registry_locations,
    run_amp_optim_wrapper_without_cuda,
)

_FIX_MODULES = (_applied, mmpretrain_multimodal, mmengine_checkpoints, cpu_distributed,
                mmselfsup_double_registration, dataloader_cfg, numpy2_adjust_hue,
                mmselfsup_registry_locations, amp_without_cuda)


def apply_all():
    """Apply every compatibility fix of :data:`FIXES`, in order (idempotent)."""
    for fix in FIXES:
        fix()


def __getattr__(name):
    """The private helpers of the fix modules, read live (``_ORIGINAL_ADJUST_HUE`` is set
    when its fix is applied), as when they all lived in one ``compat.py``."""
    if name == '_once':  # the decorator's name in compat.py
        return apply_once
    if name.startswith('_') and not name.startswith('__'):
        for module in _FIX_MODULES:
            if name in vars(module):
                return vars(module)[name]
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


__all__ = [
    'apply_all', 'allow_mmengine_checkpoints', 'enable_cpu_distributed',
    'tolerate_mmselfsup_double_registration', 'fix_collate_fn_scope', 'fix_numpy2_adjust_hue',
    'fix_mmselfsup_registry_locations', 'turn_off_broken_mmpretrain_multimodal',
    'run_amp_optim_wrapper_without_cuda', 'mmpretrain_multimodal_blocker',
    'mmpretrain_multimodal_status', 'cpu_computes_bf16', 'mmengine_checkpoint_safe_globals',
    'apply_once', 'FIXES'
]
