# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""Steps 3 and 4 of :func:`~mmtobias.scda.generate_masks`: every rank
computes its share of the pending shards (:func:`compute_shards`),
checkpointing each finished shard while its run holds the mask file's lock,
and the maps reach rank 0 (:func:`gather_maps`)."""
import json
from dataclasses import dataclass, field
from typing import Any, Dict, List

import numpy as np
import torch
from mmengine.dist import get_dist_info
from mmengine.utils import ProgressBar
from torch.utils.data import DataLoader

from .file_lock import MaskFileLock
from .gpu_decode import NvjpegBatchDecoder
from .image_list import ImageListDataset
from .pipeline import SCDANet, iter_maps
from .plan import MaskPlan
from .runtime import all_gather_rows
from .shards import save_shard, shard_path

__all__ = ['ShardJob', 'ComputedMaps', 'compute_shards', 'gather_maps']


@dataclass
class ShardJob:
    """What a rank needs to compute its share of a run's shards."""

    keys: List[str]
    paths: List[str]
    net: SCDANet
    batch_size: int
    shard_size: int
    num_workers: int
    decode: str
    shard_dir: str
    lock: MaskFileLock
    token: str  # checkpoints are written while the lock holds this token
    progress: bool
    logger: Any


@dataclass
class ComputedMaps:
    """Computed maps: key indices, ``(n, g, g)`` maps, valid flags and the
    reasons of the unreadable images (by key)."""

    idx: np.ndarray
    maps: np.ndarray
    valid: np.ndarray
    reasons: Dict[str, str] = field(default_factory=dict)

    @classmethod
    def concat(cls, parts: List['ComputedMaps'], grid: int) -> 'ComputedMaps':
        out = cls(np.zeros(0, np.int64), np.zeros((0, grid, grid),
                                                  np.float32),
                  np.zeros(0, bool))
        if parts:
            out = cls(np.concatenate([p.idx for p in parts]),
                      np.concatenate([p.maps for p in parts]),
                      np.concatenate([p.valid for p in parts]))
        for p in parts:
            out.reasons.update(p.reasons)
        return out


def compute_shards(plan: MaskPlan, job: ShardJob) -> ComputedMaps:
    """This rank's share of the pending shards."""
    rank, world_size = get_dist_info()
    shards = {s: plan.shard(s, job.shard_size)
              for s in plan.pending[rank::world_size]}
    if not shards:
        return ComputedMaps.concat([], job.net.grid)
    return ComputedMaps.concat(_run_shards(shards, plan, job), job.net.grid)


def _run_shards(shards: Dict[int, List[int]], plan: MaskPlan,
                job: ShardJob) -> List[ComputedMaps]:
    """Decode and compute ``shards`` (shard number -> key indices),
    checkpointing each finished shard while this run holds the lock."""
    g, keys = job.net.grid, job.keys
    batches = [idx[b:b + job.batch_size] for idx in shards.values()
               for b in range(0, len(idx), job.batch_size)]
    where = {i: (s, j) for s, idx in shards.items() for j, i in enumerate(idx)}
    show = job.progress and get_dist_info()[0] == 0
    bar = ProgressBar(sum(map(len, batches))) if show else None
    dataset = ImageListDataset(job.paths, job.net.input_size, min_size=g,
                               decode=job.decode)
    # pinned batches reach the GPU while it computes (nvjpeg: bytes only)
    pin = torch.device(job.net.device).type == 'cuda' and job.decode != 'nvjpeg'
    loader = DataLoader(dataset, batch_sampler=batches,
                        num_workers=job.num_workers,
                        collate_fn=dataset.collate, pin_memory=pin)
    decoder = (NvjpegBatchDecoder(dataset.decode_cpu, job.net.input_size,
                                  job.net.device)
               if job.decode == 'nvjpeg' else None)
    buffers: Dict[int, ComputedMaps] = {}
    filled: Dict[int, int] = {}
    finished = []
    for idx, maps, ok, reasons in iter_maps(loader, job.net, decoder):
        for j, i in enumerate(idx.tolist()):
            s, pos = where[i]
            n_s = len(shards[s])
            buf = buffers.setdefault(s, ComputedMaps(
                np.asarray(shards[s], np.int64),
                np.full((n_s, g, g), np.nan, np.float32), np.zeros(n_s, bool)))
            buf.maps[pos], buf.valid[pos] = maps[j], bool(ok[j])
            if not ok[j]:
                buf.reasons[keys[i]] = reasons[j]
            filled[s] = filled.get(s, 0) + 1
            if filled[s] < n_s:
                continue
            if job.lock.held_by(job.token):  # this run's lock, on this file system
                save_shard(shard_path(job.shard_dir, s), plan.signatures[s],
                           buf.maps, buf.valid, buf.reasons)
            finished.append(buffers.pop(s))
        if bar is not None:
            bar.update(len(idx))
    if bar is not None:
        bar.file.write('\n')
    if decoder is not None:
        decoder.log_summary(job.logger)
    return finished


def gather_maps(part: ComputedMaps) -> ComputedMaps:
    """Every rank's computed maps on rank 0 (dense, padded all_gathers)."""
    reasons = np.frombuffer(json.dumps(part.reasons).encode(), np.uint8)
    out = ComputedMaps(*(np.concatenate(all_gather_rows(a))
                         for a in (part.idx, part.maps, part.valid)))
    for chunk in all_gather_rows(reasons):
        out.reasons.update(json.loads(chunk.tobytes().decode()))
    return out
