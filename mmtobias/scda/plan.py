# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""What a mask generation run has to do: the content-aware up-to-date check
and the plan (reuse, resume, compute).

An image's entry in a mask file is current when its key (path relative to the
data root), its size and its mtime (one ``os.stat``) are as recorded and the
file was made with the same settings.
"""
import bisect
import logging
import os.path as osp
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.logging import print_log

from .mask_store import MaskStore, dataset_fingerprint, image_stat
from .shards import load_shard, shard_path, shard_signature

__all__ = ['image_keys', 'check_mask_file', 'plan_masks', 'recorded_decode',
           'MaskPlan', 'MaskWork']

# Meta entries recorded since a later mmtobias, with the value that files
# written before them were made with (decode: PIL, in full).
_LEGACY_META = dict(decode='pil')


def _setting(meta: dict, key: str):
    return meta.get(key, _LEGACY_META.get(key))


def recorded_decode(mask_file: str) -> Optional[str]:
    """The decoding path ``mask_file`` was made with ('pil' for files from
    before it was recorded); None without a readable file."""
    try:
        return _setting(MaskStore(mask_file).meta, 'decode')
    except (ValueError, KeyError, OSError):
        return None


def image_keys(img_paths: Sequence[str], data_root: str):
    """Sorted keys (paths relative to ``data_root``) and absolute paths."""
    pairs = sorted({(MaskStore.relpath(p, data_root), osp.abspath(p))
                    for p in img_paths})
    return [k for k, _ in pairs], [p for _, p in pairs]


def _path_only_note(mask_file: str, logger) -> None:
    print_log(f'Tobias masks: {mask_file} carries path-only fingerprints '
              f'(written before mmtobias recorded image sizes and mtimes): '
              f'images edited in place are not detected and its maps are '
              f'not reused for a partial update. Regenerate it '
              f'(tools/generate_masks.py ... --force, or delete it) to record '
              f'them.', logger=logger or 'current', level=logging.WARNING)


def check_mask_file(mask_file: str, img_paths: Sequence[str], data_root: str,
                    settings: Optional[dict] = None,
                    logger=None) -> Optional[str]:
    """Why ``mask_file`` must be (re)generated for these images, or None
    when it is up to date: same image list, each image's size and mtime as
    recorded (one ``os.stat`` per image) and, if given, the ``settings``
    (meta entries, e.g. :func:`map_settings`) equal. A file with path-only
    fingerprints (older mmtobias) is checked on the paths, with a note."""
    if not osp.isfile(mask_file):
        return f'mask file {mask_file} does not exist'
    try:
        store = MaskStore(mask_file)
        meta, recorded = store.meta, store.stats
    except (ValueError, KeyError, OSError) as e:
        return f'mask file {mask_file} cannot be read ({e})'
    keys, paths = image_keys(img_paths, data_root)
    if meta.get('fingerprint') != dataset_fingerprint(keys):
        return (f"mask file {mask_file} was made for another image list "
                f"({meta.get('num_images')} images under "
                f"{meta.get('data_root')}; the dataset has {len(keys)} "
                f'under {data_root})')
    diff = [f'{k}: file {_setting(meta, k)!r}, wanted {v!r}'
            for k, v in (settings or {}).items() if _setting(meta, k) != v]
    if diff:
        return (f'mask file {mask_file} was made with other settings ('
                + '; '.join(diff) + ')')
    if recorded is None:
        _path_only_note(mask_file, logger)
        return None
    stats = np.array([image_stat(p) for p in paths], np.int64).reshape(-1, 2)
    changed = [keys[i] for i in np.flatnonzero((stats != recorded).any(1))]
    if changed:
        return (f'{len(changed)} of {len(keys)} images changed since mask '
                f'file {mask_file} was made (size or mtime differ: '
                + ', '.join(changed[:5]) + (', ...' if len(changed) > 5
                                            else '') + ')')
    return None


@dataclass
class MaskPlan:
    """What every rank computes: the key indices still ``todo`` (cut into
    shards of ``shard_size`` in this order), the shard numbers ``pending``
    (not resumed from a checkpoint) and every shard's ``signatures``.
    Plain lists, so that it travels as JSON from rank 0."""

    todo: List[int] = field(default_factory=list)
    pending: List[int] = field(default_factory=list)
    signatures: List[str] = field(default_factory=list)

    def shard(self, s: int, shard_size: int) -> List[int]:
        """The key indices of shard ``s``."""
        return self.todo[s * shard_size:(s + 1) * shard_size]


@dataclass
class MaskWork:
    """Rank 0's state of a run, one row per key: the images' ``stats``,
    the ``maps`` and ``valid`` flags so far, which rows are ``done`` and the
    ``reasons`` of the unreadable images; how many rows were reused from
    the existing file and resumed from shards, and whether the file is
    ``up_to_date`` as it is (nothing to write)."""

    stats: np.ndarray
    maps: np.ndarray
    valid: np.ndarray
    done: np.ndarray
    reasons: Dict[str, str] = field(default_factory=dict)
    num_reused: int = 0
    num_resumed: int = 0
    up_to_date: bool = False

    @classmethod
    def empty(cls, paths: Sequence[str], grid: int) -> 'MaskWork':
        """Nothing done yet; every image stat'ed once."""
        num = len(paths)
        return cls(stats=np.array([image_stat(p) for p in paths],
                                  np.int64).reshape(num, 2),
                   maps=np.full((num, grid, grid), np.nan, np.float32),
                   valid=np.zeros(num, bool), done=np.zeros(num, bool))

    def fill(self, idx, maps, valid, reasons: Dict[str, str]) -> None:
        """Record the maps of the key indices ``idx``."""
        self.maps[idx], self.valid[idx] = maps, valid
        self.reasons.update(reasons)
        self.done[idx] = True


def _reuse_file(out_file: str, keys, meta: dict, grid: int, work: MaskWork,
                logger) -> bool:
    """Copy into ``work`` the maps of ``out_file`` whose key and stats
    match, when it was made with the same settings. Returns whether the file
    is up to date as it is (nothing to compute or to rewrite)."""
    try:
        store = MaskStore(out_file)
        old_meta, old_keys, old_stats = store.meta, store.keys(), store.stats
    except (ValueError, KeyError, OSError):
        return False  # absent or unreadable: computed anew
    if store.grid != grid or any(_setting(old_meta, k) != v for k, v in
                                 meta.items() if k != 'data_root'):
        return False
    if old_stats is None:
        _path_only_note(out_file, logger)
        return False
    pos = {k: i for i, k in enumerate(old_keys)}
    rows = np.array([pos.get(k, -1) for k in keys], np.int64)
    hit = rows >= 0
    hit[hit] = (old_stats[rows[hit]] == work.stats[hit]).all(1)
    reused = np.flatnonzero(hit)
    reasons = {}
    for key, reason in store.unreadable.items():
        i = bisect.bisect_left(keys, key)  # keys are sorted
        if i < len(keys) and keys[i] == key and hit[i]:
            reasons[key] = reason
    valid = np.array([keys[i] not in reasons for i in reused], bool)
    work.fill(reused, store.all_maps(rows[reused]), valid, reasons)
    work.num_reused = int(hit.sum())
    return bool(hit.all() and len(old_keys) == len(keys)
                and old_meta.get('data_root') == meta['data_root'])


def plan_masks(keys: List[str], paths: List[str], out_file: str, meta: dict,
               grid: int, signature_base: str, shard_size: int,
               shard_dir: str, reuse: bool, logger=None):
    """On rank 0: what to reuse, resume and compute.

    Returns:
        tuple[MaskPlan, MaskWork]: The plan that every rank needs and rank
        0's work so far (stats, reused and resumed maps).
    """
    work = MaskWork.empty(paths, grid)
    if reuse:
        work.up_to_date = _reuse_file(out_file, keys, meta, grid, work,
                                      logger)
    plan = MaskPlan(todo=np.flatnonzero(~work.done).tolist())
    for s, start in enumerate(range(0, len(plan.todo), shard_size)):
        idx = plan.shard(s, shard_size)
        plan.signatures.append(shard_signature(
            signature_base, [keys[i] for i in idx], work.stats[idx]))
        shard = load_shard(shard_path(shard_dir, s), plan.signatures[s])
        if shard is None:
            plan.pending.append(s)
            continue
        work.fill(idx, shard['maps'], shard['valid'], shard['reasons'])
        work.num_resumed += len(idx)
    return plan, work
