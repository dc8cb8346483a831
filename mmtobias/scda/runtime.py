# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""Where mask generation runs: precision, decoding path, worker defaults and
its torch.distributed traffic.

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

__all__ = ['PRECISIONS', 'DECODES', 'resolve_precision', 'resolve_decode',
           'available_cores', 'default_workers_threads', 'torch_threads',
           'broadcast_json', 'all_gather_rows']

PRECISIONS = ('auto', 'fp32', 'bf16')
DECODES = ('auto', 'pil', 'draft', 'nvjpeg')
# What 'auto' decodes with: only a path measured to keep >= 99 % of the
# released approach's foreground cells on real photos may be chosen here
# (tools/analysis_tools/mask_decode_agreement.py; docs/mask_decoding.md).
# 'draft' kept 99.92-100 % on Imagenette, kangaroo and cards; 'nvjpeg' is
# measured on a GPU only, so it stays opt-in.
AUTO_DECODE = 'draft'


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


def resolve_decode(decode: str, device,
                   existing: Optional[str] = None) -> str:
    """The decoding path of ``decode`` on ``device``.

    'pil' is the released approach (full-size PIL decode, bilinear resize);
    'draft' decodes JPEGs at the largest DCT scale (1/2, 1/4, 1/8) that
    keeps both sides >= the network input, then resizes the same way;
    'nvjpeg' decodes JPEGs in batches on the GPU and resizes there, other
    files on the CPU. 'auto' is :data:`AUTO_DECODE` on every device, so the
    maps do not depend on where they are computed, except that it keeps
    ``existing``, the path of the mask file being updated (when usable on
    ``device``), so that the maps of its unchanged images stay reusable.
    """
    if decode not in DECODES:
        raise ValueError(f'decode={decode!r} is not supported; choose one of '
                         f'{DECODES}.')
    if decode == 'auto':
        usable = ('pil', 'draft') + (
            ('nvjpeg', ) if torch.device(device).type == 'cuda' else ())
        return existing if existing in usable else AUTO_DECODE
    if decode == 'nvjpeg' and torch.device(device).type != 'cuda':
        raise ValueError(f"decode='nvjpeg' decodes on a CUDA GPU, but the "
                         f'device is {torch.device(device)}; use '
                         f"decode='pil' or 'draft' (or 'auto').")
    return decode


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
                            num_threads: Optional[int] = None,
                            decode: str = 'pil'
                            ) -> Tuple[int, Optional[int]]:
    """Decode workers and torch compute threads, None meaning "choose".

    With ``cores`` = :func:`available_cores`:

    - CPU: ``num_workers`` = 0 when ``cores <= 2`` (a decode process would
      compete with the compute threads for the same cores), else
      ``min(8, cores // 4)``; ``num_threads`` = ``cores - num_workers``
      (at least 1), never above the current ``torch.get_num_threads()``, so
      ``OMP_NUM_THREADS`` or ``torch.set_num_threads`` still cap it.
    - CUDA (and other accelerators): decoding on the CPU is the bottleneck,
      so every core but the main process's decodes: ``num_workers`` =
      ``min(32, cores - 1)`` (at least 1; 32 bounds the memory of the
      forked workers). With ``decode='nvjpeg'`` the workers only read the
      files (and decode the few that are not GPU-decodable JPEGs):
      ``min(8, cores - 1)``. ``num_threads`` stays None (the torch setting
      is left alone).

    Returns:
        tuple[int, int | None]: ``(num_workers, num_threads)``.
    """
    cores = available_cores()
    on_cpu = torch.device(device).type == 'cpu'
    if num_workers is None:
        if on_cpu:
            num_workers = 0 if cores <= 2 else min(8, cores // 4)
        else:
            cap = 8 if decode == 'nvjpeg' else 32
            num_workers = max(1, min(cap, cores - 1))
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
