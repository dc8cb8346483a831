# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""Where mask generation runs: precision, CPU defaults and its
torch.distributed traffic.

Every collective here sends contiguous, dense tensors of the same shape and
dtype from every rank (NCCL's rules; gloo is more lenient, so the tests on CPU
would not catch a violation): variable-length data is padded to the largest
rank's length after an all_gather of the lengths.
"""
import json
import os
from contextlib import contextmanager
from typing import List, Optional, Tuple

import numpy as np
import torch
from mmengine.dist import all_gather, broadcast, get_dist_info

__all__ = ['PRECISIONS', 'resolve_precision', 'available_cores',
           'default_workers_threads', 'torch_threads', 'broadcast_json',
           'all_gather_rows']

PRECISIONS = ('auto', 'fp32', 'bf16')


def resolve_precision(precision: str, device) -> str:
    """'auto' -> 'bf16' where the device computes bf16 natively (CPUs with
    AVX512-BF16/AMX, recent GPUs), else 'fp32'."""
    if precision not in PRECISIONS:
        raise ValueError(f'precision={precision!r} is not supported; choose '
                         f'one of {PRECISIONS}.')
    if precision != 'auto':
        return precision
    device = torch.device(device)
    if device.type == 'cuda':
        return 'bf16' if torch.cuda.is_bf16_supported() else 'fp32'
    if device.type == 'cpu':
        try:
            native = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):
            native = False
        return 'bf16' if native else 'fp32'
    return 'fp32'


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS has it,
    else ``os.cpu_count()``), shared among the ``LOCAL_WORLD_SIZE``
    processes of this machine."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    local = int(os.environ.get('LOCAL_WORLD_SIZE', '1') or 1)
    return max(1, cores // max(1, local))


def default_workers_threads(device, num_workers: Optional[int] = None,
                            num_threads: Optional[int] = None
                            ) -> Tuple[int, Optional[int]]:
    """Decode workers and torch compute threads, None meaning "choose".

    With ``cores`` = :func:`available_cores`:

    - CPU: ``num_workers`` = 0 when ``cores <= 2`` (a decode process would
      compete with the compute threads for the same cores), else
      ``min(8, cores // 4)``; ``num_threads`` = ``cores - num_workers``
      (at least 1), never above the current ``torch.get_num_threads()``, so
      ``OMP_NUM_THREADS`` or ``torch.set_num_threads`` still cap it.
    - CUDA (and other accelerators): decoding is the bottleneck, so
      ``num_workers`` = ``min(8, cores - 1)`` (at least 1); ``num_threads``
      stays None (the torch setting is left alone).

    Returns:
        tuple[int, int | None]: ``(num_workers, num_threads)``.
    """
    cores = available_cores()
    on_cpu = torch.device(device).type == 'cpu'
    if num_workers is None:
        if on_cpu:
            num_workers = 0 if cores <= 2 else min(8, cores // 4)
        else:
            num_workers = max(1, min(8, cores - 1))
    if num_threads is None and on_cpu:
        num_threads = max(1, min(torch.get_num_threads(),
                                 cores - num_workers))
    return num_workers, num_threads


@contextmanager
def torch_threads(num_threads: Optional[int]):
    """Run with ``num_threads`` torch threads (None: unchanged), then
    restore the previous setting."""
    before = torch.get_num_threads()
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def broadcast_json(obj=None, src: int = 0):
    """``obj`` (JSON-serialisable) from rank ``src`` to every rank, as a
    length and a uint8 tensor; without torch.distributed it is returned."""
    if get_dist_info()[1] == 1:
        return obj
    payload = (json.dumps(obj).encode('utf-8')
               if get_dist_info()[0] == src else b'')
    length = torch.tensor([len(payload)], dtype=torch.int64)
    broadcast(length, src)
    data = torch.zeros(int(length.item()), dtype=torch.uint8)
    if payload:
        data.copy_(torch.frombuffer(bytearray(payload), dtype=torch.uint8))
    broadcast(data, src)
    return json.loads(bytes(data.numpy()).decode('utf-8'))


def all_gather_rows(array: np.ndarray) -> List[np.ndarray]:
    """Every rank's ``array`` (same trailing shape and dtype everywhere,
    any number of rows), in rank order. Rows are padded to the largest
    count, so every rank sends a tensor of the same shape."""
    if get_dist_info()[1] == 1:
        return [array]
    if array.dtype == bool:  # sent as uint8, which every backend has
        return [a.astype(bool) for a in all_gather_rows(array.view(np.uint8))]
    count = torch.tensor([len(array)], dtype=torch.int64)
    counts = [int(c.item()) for c in all_gather(count)]
    if max(counts) == 0:
        return [array[:0] for _ in counts]
    padded = np.zeros((max(counts), ) + array.shape[1:], array.dtype)
    padded[:len(array)] = array
    parts = all_gather(torch.from_numpy(padded).contiguous())
    return [p.numpy()[:n] for p, n in zip(parts, counts)]
