# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
import contextlib

import torch
from mmengine.optim import OptimWrapper
from mmengine.registry import OPTIM_WRAPPERS


@OPTIM_WRAPPERS.register_module()
class AutocastOptimWrapper(OptimWrapper):
    """An :class:`OptimWrapper` whose forward runs under ``torch.autocast``.

    MMEngine's ``AmpOptimWrapper`` requires CUDA (it relies on a gradient scaler for
    float16). bfloat16 has float32's exponent range and needs no loss scaling, so on a
    CPU (or any device with bf16) mixed precision is just an autocast context around the
    forward pass; parameters, gradients and the optimizer stay in float32.
    Where no CUDA (NPU, MLU, MUSA) device is available, a config's ``AmpOptimWrapper``
    (and ``tools/train.py --amp``) is built as this wrapper by ``import mmtobias`` (see
    :func:`mmtobias.utils.compat.run_amp_optim_wrapper_without_cuda`).

    Registered in MMEngine's root registry so that it is found from any default scope
    (mmpretrain, mmdet, mmselfsup).

    Args:
        dtype (str): ``'bfloat16'`` (default), ``'float16'``, or ``'float32'`` (no
            autocast: a plain :class:`OptimWrapper`, for CPUs without native bf16).
        device_type (str, optional): ``'cpu'`` or ``'cuda'``; by default the device of
            the model's first parameter.
        **kwargs: the arguments of :class:`OptimWrapper`.
    """

    _DTYPES = {'bfloat16': torch.bfloat16, 'float16': torch.float16, 'float32': torch.float32}

    def __init__(self, dtype='bfloat16', device_type=None, **kwargs):
        if dtype not in self._DTYPES:
            raise ValueError(f'AutocastOptimWrapper: dtype must be one of '
                             f'{sorted(self._DTYPES)}, got {dtype!r} (optim_wrapper.dtype)')
        super().__init__(**kwargs)
        self.dtype = dtype
        self.device_type = device_type

    @contextlib.contextmanager
    def optim_context(self, model):
        if self.dtype == 'float32':
            with super().optim_context(model):
                yield
            return
        device_type = self.device_type or next(model.parameters()).device.type
        with super().optim_context(model), torch.autocast(
                device_type=device_type, dtype=self._DTYPES[self.dtype]):
            yield
