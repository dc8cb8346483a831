# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""Distributed training (``tools/dist_train.sh``) on a machine without CUDA.

What breaks: MMEngine's pytorch launcher (``mmengine.dist.utils._init_dist_pytorch``)
calls ``torch.cuda.set_device`` and asks for NCCL, and the Runner wraps the model in
``MMDistributedDataParallel`` with ``device_ids=[LOCAL_RANK]``; without CUDA the first
fails, and DDP of a CPU module refuses device ids. SimCLR's configs also use SyncBN,
which torch implements for GPUs only ("SyncBatchNorm layers only work with GPU
modules").

Versions: MMEngine <= 0.10.7 (its last release) with any torch, whenever neither CUDA
nor the other accelerators MMEngine launches on (NPU, MLU, MUSA) are present.

The fix: on such a machine the process group falls back to gloo (torch's CPU backend)
and no device is set; DDP gets ``device_ids=None``; SyncBN layers become BN with
per-process statistics, with one warning. With an accelerator, MMEngine's own code runs
unchanged.

Detected / tested: ``mmengine.device.get_device() == 'cpu'`` at launch / wrap time.
``tests/test_utils/test_compat.py::test_init_dist_on_cpu_falls_back_to_gloo`` (fails
without mmtobias, works with it) and ``::test_dist_train_two_cpu_processes`` (a real
2-process training on CPU).
"""
import functools
import logging

import torch

from ._applied import apply_once

__all__ = ['enable_cpu_distributed']


def _cpu_only():
    """No CUDA and none of the other accelerators MMEngine launches on."""
    from mmengine.device import get_device
    return get_device() == 'cpu'


@apply_once
def enable_cpu_distributed():
    """Patch MMEngine's pytorch launcher and DDP wrapper for CPU-only machines."""
    import torch.distributed as torch_dist
    from mmengine.dist import utils as dist_utils
    from mmengine.model import MMDistributedDataParallel

    original_init_pytorch = dist_utils._init_dist_pytorch

    def _init_dist_pytorch(backend, init_backend='torch', **kwargs):
        if not _cpu_only() or init_backend != 'torch':
            return original_init_pytorch(backend, init_backend=init_backend, **kwargs)
        if backend == 'nccl':  # NCCL needs CUDA; gloo is torch's CPU backend
            backend = 'gloo'
        torch_dist.init_process_group(backend=backend, **kwargs)

    dist_utils._init_dist_pytorch = _init_dist_pytorch

    original_ddp_init = MMDistributedDataParallel.__init__

    @functools.wraps(original_ddp_init)
    def ddp_init(self, module, detect_anomalous_params=False, **kwargs):
        on_cpu = all(p.device.type == 'cpu' for p in module.parameters())
        if on_cpu and _cpu_only():
            # DDP of a CPU module must not name devices.
            kwargs['device_ids'] = None
            kwargs.pop('output_device', None)
            # torch's SyncBN has no CPU implementation ('SyncBatchNorm layers only
            # work with GPU modules'): BN with per-process statistics instead.
            if any(isinstance(m, torch.nn.SyncBatchNorm) for m in module.modules()):
                from mmengine.logging import print_log
                from mmengine.model import revert_sync_batchnorm
                module = revert_sync_batchnorm(module)
                print_log('SyncBN has no CPU implementation in torch: on CPU the '
                          'processes use BN with per-process statistics.',
                          logger='current', level=logging.WARNING)
        original_ddp_init(
            self, module=module, detect_anomalous_params=detect_anomalous_params, **kwargs)

    MMDistributedDataParallel.__init__ = ddp_init
