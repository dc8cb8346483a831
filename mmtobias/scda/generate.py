# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""Generate Tobias masks: batched random-CNN SCDA, sharded and resumable.

:func:`generate_masks` runs in four steps, each its own function:

1. :func:`_start` (rank 0): the output is tested for writing and the mask
   file's lock (``OUT.lock``) is taken; a second writer waits for the first.
2. :func:`~mmtobias.scda.plan.plan_masks` (rank 0, under the lock): every
   image is stat'ed once; the maps of images whose key, size and mtime match
   the existing mask file (made with the same settings) are reused; the rest
   is cut into fixed shards, and shards checkpointed by an interrupted run
   for the same images and settings are resumed.
3. :func:`~mmtobias.scda.compute.compute_shards` (every rank): a share of
   the pending shards; a rank that sees rank 0's lock file (same file
   system) checkpoints each finished shard to ``shard_dir``, other nodes
   write nothing.
4. :func:`~mmtobias.scda.compute.gather_maps` and :func:`_merge`: the new
   maps reach rank 0 through torch.distributed (no rank reads another's
   files, so the work dir need not be shared between nodes); rank 0 writes
   the file atomically, then deletes the shards it merged and the lock.
   :func:`_log_summary` reports.

A shard is computed the same way whichever rank takes it and whenever, so an
interrupted and restarted run, or a run on another number of processes,
writes the same bytes.
"""
import json
import logging
import os.path as osp
import time
from dataclasses import asdict
from typing import Optional, Sequence

import numpy as np
import torch
from mmengine.dist import get_dist_info
from mmengine.logging import print_log

from .compute import ComputedMaps, ShardJob, compute_shards, gather_maps
from .file_lock import MaskFileLock, check_writable
from .mask_store import write_mask_store
from .pipeline import SCDANet
from .plan import (MaskPlan, MaskWork, check_mask_file, image_keys,
                   plan_masks, recorded_decode)
from .runtime import (DECODES, PRECISIONS, broadcast_json,
                      default_workers_threads, resolve_decode,
                      resolve_precision, torch_threads)
from .settings import ScdaNetSettings
from .shards import remove_shards, shard_path

__all__ = ['PRECISIONS', 'DECODES', 'resolve_precision', 'check_mask_file',
           'generate_masks', 'map_settings']

_POLL = 1.0  # seconds between tries of a held lock
_ERRORS = dict(ValueError=ValueError, TimeoutError=TimeoutError)


def map_settings(**net) -> dict:
    """The mask-file ``meta`` entries that determine the maps, for the network
    arguments of :func:`generate_masks` (same names and defaults; see
    :meth:`ScdaNetSettings.meta`)."""
    return ScdaNetSettings(**net).meta()


# -- the steps ----------------------------------------------------------------
def _start(lock: MaskFileLock, out_file: str, out_option: str,
           shard_dir: Optional[str]) -> str:
    """Rank 0 tests the output and takes the lock, the others wait with it
    (one small broadcast per try, so no collective outlives its timeout).
    Returns the lock's token; rank 0's errors are raised on every rank."""
    rank = get_dist_info()[0]
    checked = False
    while True:
        state = None
        if rank == 0:
            try:
                if not checked:
                    check_writable(out_file, out_option)
                    if shard_dir is not None:
                        check_writable(shard_path(shard_dir, 0), 'shard_dir')
                    checked = True
                state = dict(status='held' if lock.try_acquire() else 'wait',
                             token=lock.token)
            except Exception as e:
                broadcast_json(dict(status='error', type=type(e).__name__,
                                    message=str(e)))
                raise
        state = broadcast_json(state)
        if state['status'] == 'held':
            return state['token']
        if state['status'] == 'error':
            raise _ERRORS.get(state['type'], RuntimeError)(
                f"rank 0 failed: {state['message']}")
        if rank == 0:
            time.sleep(_POLL)


def _merge(work: MaskWork, new: ComputedMaps, keys, out_file, meta, shard_dir,
           keep_shards) -> dict:
    """Rank 0: the reused, resumed and new maps into the mask file."""
    work.fill(new.idx, new.maps, new.valid, new.reasons)
    if not work.done.all():
        missing = [keys[i] for i in np.flatnonzero(~work.done)[:5]]
        raise RuntimeError(f'Tobias masks: {int((~work.done).sum())} '
                           f'images got no map ({", ".join(missing)}, ...); '
                           f'this is a bug, please report it.')
    if not work.up_to_date:
        write_mask_store(out_file, keys, work.maps, work.valid, meta,
                         reasons=work.reasons, stats=work.stats)
    if not keep_shards:  # the file is in place: the shards are not needed
        remove_shards(shard_dir)
    unreadable = {keys[i]: work.reasons.get(keys[i], 'unreadable')
                  for i in np.flatnonzero(~work.valid)}
    return dict(out_file=out_file, num_images=len(keys),
                num_unreadable=len(unreadable), unreadable=unreadable,
                num_computed=len(new.idx), num_reused=work.num_reused,
                num_resumed=work.num_resumed, written=not work.up_to_date)


def _log_summary(summary, new: ComputedMaps, keys, paths, run, logger) -> None:
    for i in new.idx[~new.valid]:
        print_log(f'Tobias masks: cannot read {paths[i]} '
                  f"({new.reasons.get(keys[i], 'unreadable')}); recorded "
                  f'as unreadable, its mask falls back to the whole image as '
                  f'foreground.', logger=logger, level=logging.WARNING)
    print_log(
        f"Tobias masks: computed {summary['num_computed']} images in "
        f"{summary['seconds']:.1f} s ({summary['images_per_second']:.1f} "
        f"img/s; {run}); {summary['num_reused']} reused from the existing "
        f"file, {summary['num_resumed']} from shard checkpoints",
        logger=logger)
    out, reasons = summary['out_file'], summary['unreadable']
    if not summary['written']:
        print_log(f'Tobias masks: {out} is up to date '
                  f"({summary['num_images']} images); nothing written.",
                  logger=logger)
        return
    names = ', '.join(sorted(reasons)[:10])
    print_log(
        f"Tobias masks: wrote {out}: {summary['num_images']} images, "
        f'{len(reasons)} unreadable'
        + (f' ({names}{", ..." if len(reasons) > 10 else ""}; '
           'whole-image foreground)' if reasons else ''),
        logger=logger, level=logging.WARNING if reasons else logging.INFO)


def _check_arguments(**values) -> None:
    for name, low in (('batch_size', 1), ('shard_size', 1),
                      ('num_workers', 0), ('num_threads', 1)):
        value = values[name]
        if value is None and name in ('num_workers', 'num_threads'):
            continue
        if not isinstance(value, int) or isinstance(value, bool) \
                or value < low:
            raise ValueError(f'{name} must be an int >= {low}, got {value!r}.')
    timeout = values['lock_timeout']
    if timeout is not None and (not isinstance(timeout, (int, float))
                                or timeout < 0):
        raise ValueError(f'lock_timeout must be a number of seconds >= 0 or '
                         f'None (wait for ever), got {timeout!r}.')


def generate_masks(img_paths: Sequence[str],
                   data_root: str,
                   out_file: str,
                   *,
                   arch: str = 'resnet50',
                   init: str = 'kaiming',
                   seed: Optional[int] = 0,
                   input_size: int = 224,
                   layer4_stride: int = 2,
                   extra_pool: bool = True,
                   grid: Optional[int] = None,
                   batch_size: int = 32,
                   num_workers: Optional[int] = None,
                   num_threads: Optional[int] = None,
                   precision: str = 'auto',
                   decode: str = 'auto',
                   channels_last: bool = True,
                   device=None,
                   shard_size: int = 1024,
                   shard_dir: Optional[str] = None,
                   keep_shards: bool = False,
                   reuse: bool = True,
                   lock_timeout: Optional[float] = 3600.0,
                   out_option: str = 'out_file',
                   progress: bool = True,
                   logger=None) -> dict:
    """Compute the SCDA maps of ``img_paths`` and write the mask file.

    Call it on every rank with the same arguments (or without
    ``torch.distributed``: one process). Network arguments: see
    :class:`~mmtobias.scda.ScdaNetSettings` (checked before any work);
    ``precision`` is 'fp32',
    'bf16' (autocast) or 'auto' (see :func:`resolve_precision`).
    ``decode`` is 'pil' (the released approach), 'draft' (JPEGs decoded at
    a reduced DCT scale that keeps the input size), 'nvjpeg' (JPEGs decoded
    and resized on the GPU, other files on the CPU) or 'auto' ('draft',
    measured to keep >= 99.9 % of 'pil''s foreground cells; an existing
    ``out_file``'s own path when updating it; see
    :func:`~mmtobias.scda.runtime.resolve_decode`).
    ``num_workers`` (decode processes) and ``num_threads`` (torch threads
    while computing) default to a split of the available cores, see
    :func:`~mmtobias.scda.runtime.default_workers_threads`. With ``reuse``,
    the maps of images unchanged since ``out_file`` was made (same key, size
    and mtime, same settings) are kept and only the others computed.
    ``lock_timeout`` bounds the wait for another process writing the same
    file; ``out_option`` is how errors name ``out_file`` (e.g. ``'--out'``).
    ``shard_dir`` defaults to ``out_file + '.shards'``.

    Returns:
        dict: ``out_file``, ``num_images``, ``num_unreadable``,
        ``unreadable`` ({key: reason}), ``num_computed``, ``num_reused``
        (from the existing file), ``num_resumed`` (from shards), ``written``
        (False: the file was already up to date), ``seconds`` and
        ``images_per_second`` (of this run's computation).
    """
    net_settings = ScdaNetSettings(arch, init, seed, input_size,
                                   layer4_stride, extra_pool, grid)
    _check_arguments(batch_size=batch_size, shard_size=shard_size,
                     num_workers=num_workers, num_threads=num_threads,
                     lock_timeout=lock_timeout)
    logger = logger or 'current'
    rank, world_size = get_dist_info()
    device = torch.device(device or (
        'cuda' if torch.cuda.is_available() else 'cpu'))
    precision = resolve_precision(precision, device)
    resolve_decode(decode, device)  # argument errors before any work
    data_root = osp.abspath(data_root)
    keys, paths = image_keys(img_paths, data_root)
    if not keys:
        raise ValueError(f'No images given to generate masks for (data_root '
                         f'{data_root}).')
    lock = MaskFileLock(out_file + '.lock', lock_timeout, logger)
    try:
        token = _start(lock, out_file, out_option, shard_dir)
        # 'auto' keeps the path of the file being updated (its maps reusable)
        decode = resolve_decode(decode, device, broadcast_json(
            recorded_decode(out_file) if rank == 0 and reuse and
            decode == 'auto' else None))
        num_workers, num_threads = default_workers_threads(
            device, num_workers, num_threads, decode)
        shard_dir = shard_dir or out_file + '.shards'
        with torch_threads(num_threads):
            net = SCDANet.from_settings(net_settings, device, precision,
                                        channels_last)
            meta = dict(net_settings.meta(), precision=precision,
                        decode=decode, data_root=data_root,
                        aggregation='channel_sum', resize='bilinear')
            base = json.dumps(dict({k: v for k, v in meta.items()
                                    if k != 'data_root'}, grid=net.grid,
                                   batch_size=batch_size), sort_keys=True)
            plan, work = (plan_masks(keys, paths, out_file, meta, net.grid,
                                     base, shard_size, shard_dir, reuse,
                                     logger)
                          if rank == 0 else (None, None))
            plan = MaskPlan(**broadcast_json(
                asdict(plan) if plan is not None else None))
            start = time.perf_counter()
            part = compute_shards(plan, ShardJob(keys, paths, net, batch_size,
                                                 shard_size, num_workers, decode,
                                                 shard_dir, lock, token, progress,
                                                 logger))
            new = gather_maps(part)
            seconds = time.perf_counter() - start
        summary = None
        if rank == 0:
            summary = _merge(work, new, keys, out_file, meta, shard_dir,
                             keep_shards)
            summary.update(seconds=seconds, images_per_second=(
                summary['num_computed'] / seconds if seconds > 0 else 0.0))
            threads = f', {num_threads} threads' if num_threads else ''
            _log_summary(summary, new, keys, paths,
                         f'{world_size} process(es), batch {batch_size}, '
                         f'{precision}, {decode} decoding, {num_workers} '
                         f'decode workers'
                         f'{threads}', logger)
    finally:
        if rank == 0:
            lock.release()
    return broadcast_json(summary)
