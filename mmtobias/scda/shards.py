# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""Shard checkpoints of mask generation: ``shard_dir/shard_NNNNNN.npz``.

A shard holds the maps of a fixed slice of the images to compute and a
signature of everything that decides them (settings, keys, image stats), so
a shard is resumed only by a run that would compute the same maps. Files are
written atomically; absent, stale or damaged shards are recomputed.
"""
import hashlib
import io
import json
import os
import os.path as osp
import re
import zipfile
from typing import Optional

import numpy as np

from .mask_store import _atomic_write

__all__ = ['shard_path', 'shard_signature', 'load_shard', 'save_shard',
           'remove_shards']

_SHARD_NAME = re.compile(r'shard_\d{6}\.npz(\..*\.tmp)?$')


def shard_path(shard_dir: str, index: int) -> str:
    return osp.join(shard_dir, f'shard_{index:06d}.npz')


def shard_signature(base: str, keys, stats) -> str:
    """sha256 of the run's settings ``base``, the shard's keys and their
    ``(size, mtime_ns)`` stats."""
    text = json.dumps(dict(base=base, keys=list(keys),
                           stats=np.asarray(stats).tolist()))
    return hashlib.sha256(text.encode()).hexdigest()


def load_shard(path: str, signature: str) -> Optional[dict]:
    """``maps``, ``valid`` and ``reasons`` of a shard, or None when it is
    absent, was made for another signature or is damaged."""
    try:
        with np.load(path, allow_pickle=False) as z:
            if str(z['signature']) != signature:
                return None
            return dict(maps=z['maps'], valid=z['valid'],
                        reasons=json.loads(str(z['reasons'])))
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile):
        return None


def save_shard(path: str, signature: str, maps, valid, reasons) -> None:
    buf = io.BytesIO()
    np.savez(buf, signature=np.array(signature), maps=maps, valid=valid,
             reasons=np.array(json.dumps(reasons, sort_keys=True)))
    _atomic_write(path, lambda f: f.write(buf.getvalue()))


def remove_shards(shard_dir: str) -> None:
    """Delete the shard files (nothing else) and the folder if it is then
    empty."""
    if not osp.isdir(shard_dir):
        return
    for name in os.listdir(shard_dir):
        if _SHARD_NAME.match(name):
            os.remove(osp.join(shard_dir, name))
    if not os.listdir(shard_dir):
        os.rmdir(shard_dir)
