# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""MMEngine's ``AmpOptimWrapper`` on a machine without CUDA.

What breaks: ``AmpOptimWrapper`` (fp16 with a gradient scaler) asserts a CUDA, NPU, MLU
or MUSA device (``AssertionError: ``AmpOptimizerWrapper`` is only available training on
gpu, npu, mlu or musa``), so stock configs written for GPUs (mmpretrain's MoCo v3
``...-amp-...`` configs, ``tools/train.py --amp``) stop on a CPU.

Versions: MMEngine <= 0.10.7 (its last release), on machines without those devices.

The fix: there, ``AmpOptimWrapper(...)`` is built as
:class:`~mmtobias.engine.optimizers.AutocastOptimWrapper` instead, with one warning:
bf16 autocast where the CPU computes bf16 natively (:func:`cpu_computes_bf16`) or bf16
is asked for, float32 elsewhere. With a device, MMEngine's class runs unchanged.

Detected / tested: MMEngine's own device checks, at construction.
``tests/test_utils/test_environments.py::test_amp_optim_wrapper_is_built_as_autocast_on_a_cpu``
and ``::test_stock_mocov3_amp_config_trains_on_a_cpu`` (a stock amp config trains).
"""
import inspect
import logging

import torch

from ._applied import apply_once

__all__ = ['cpu_computes_bf16', 'run_amp_optim_wrapper_without_cuda']


def _amp_device_available():
    """What MMEngine's AmpOptimWrapper asserts: a CUDA, NPU, MLU or MUSA device."""
    from mmengine import device
    checks = ('is_cuda_available', 'is_npu_available', 'is_mlu_available',
              'is_musa_available')
    return any(getattr(device, name)() for name in checks if hasattr(device, name))


def cpu_computes_bf16():
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 / AMX)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


_AMP_WARNED = []


def _autocast_instead_of_amp(loss_scale='dynamic', dtype=None, use_fsdp=False, **kwargs):
    """The AutocastOptimWrapper that stands in for ``AmpOptimWrapper(...)`` here."""
    from mmengine.logging import print_log

    from mmtobias.engine.optimizers import AutocastOptimWrapper

    asked_bf16 = dtype in ('bfloat16', torch.bfloat16)
    if asked_bf16 or cpu_computes_bf16():
        autocast_dtype, what = 'bfloat16', 'bf16 autocast' + (
            '' if asked_bf16 else ' (this CPU computes bf16 natively)')
    else:
        autocast_dtype, what = 'float32', (
            'float32: this CPU has no native bf16, where emulated bf16 runs several times '
            'slower; optim_wrapper.type=AutocastOptimWrapper with dtype=bfloat16 forces it')
    if not _AMP_WARNED:
        _AMP_WARNED.append(True)
        print_log(
            'AmpOptimWrapper needs a CUDA, NPU, MLU or MUSA device and none is available: '
            f'the optimizer wrapper is AutocastOptimWrapper instead, {what} '
            f'(loss_scale={loss_scale!r} is not needed without float16).',
            logger='current', level=logging.WARNING)
    return AutocastOptimWrapper(dtype=autocast_dtype, **kwargs)


@apply_once
def run_amp_optim_wrapper_without_cuda():
    """Build ``AmpOptimWrapper`` as :class:`AutocastOptimWrapper` without a device."""
    from mmengine.optim import AmpOptimWrapper

    def __new__(cls, *args, **kwargs):
        if cls is AmpOptimWrapper and not _amp_device_available():
            bound = inspect.signature(AmpOptimWrapper.__init__).bind(None, *args, **kwargs)
            arguments = dict(bound.arguments)
            arguments.pop('self')
            arguments.update(arguments.pop('kwargs', {}))
            # not an AmpOptimWrapper instance, so Python does not call __init__ again
            return _autocast_instead_of_amp(**arguments)
        return object.__new__(cls)

    AmpOptimWrapper.__new__ = staticmethod(__new__)
