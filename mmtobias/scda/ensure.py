# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""Make a mask file match a dataset: the work of the ``TobiasMaskGenerator``
hook and of ``tools/generate_masks.py``, without a runner.

:func:`ensure_masks` checks the file against the images (rank 0 decides, so
every rank takes the same branch), generates or updates it with
:func:`~mmtobias.scda.generate_masks` when it does not match, records a new
data root when the same images moved, and checks that every rank sees the
file rank 0 wrote (the transforms of every rank read it).
"""
import hashlib
import logging
import os.path as osp
import socket
import time
from dataclasses import dataclass
from typing import Optional, Sequence

from mmengine.dist import get_dist_info
from mmengine.logging import print_log

from .file_lock import MaskFileLock, check_writable
from .generate import generate_masks
from .mask_store import MaskStore, write_mask_store
from .plan import check_mask_file
from .runtime import broadcast_json
from .settings import ScdaNetSettings

__all__ = ['MaskFileStatus', 'ensure_masks']

# How long other ranks wait to see the file rank 0 wrote.
_VISIBLE_TIMEOUT = 60.0
_ERRORS = dict(ValueError=ValueError, TimeoutError=TimeoutError,
               PermissionError=PermissionError)


@dataclass
class MaskFileStatus:
    """What :func:`ensure_masks` did.

    Args:
        reason (str, optional): Why the file was (re)generated; None when it
            already matched the images.
        summary (dict, optional): The summary of
            :func:`~mmtobias.scda.generate_masks` when it ran.
        moved_from (str, optional): The data root the file recorded before
            it was rewritten for the images' new root.
    """

    reason: Optional[str] = None
    summary: Optional[dict] = None
    moved_from: Optional[str] = None

    @property
    def changed(self) -> bool:
        """Whether the file was written (readers opened before must
        reopen it)."""
        return self.summary is not None or self.moved_from is not None


def ensure_masks(img_paths: Sequence[str],
                 data_root: str,
                 mask_file: str,
                 net: Optional[ScdaNetSettings] = None,
                 *,
                 force: bool = False,
                 match_settings: bool = False,
                 lock_timeout: Optional[float] = 3600.0,
                 out_option: str = 'mask_file',
                 logger=None,
                 **options) -> MaskFileStatus:
    """Make ``mask_file`` hold the masks of ``img_paths``; call it on every
    rank with the same arguments (or in one process).

    The file is kept when it matches the images (same keys relative to
    ``data_root``, each image's size and mtime as recorded); otherwise the
    masks of the new or changed images are computed (the others reused) and
    the file rewritten. Settings that differ from the file's are warned about
    and the file kept, unless ``match_settings`` (then the file is
    regenerated with these settings, as ``tools/generate_masks.py`` does).
    When the same images are now under another ``data_root``, the new root
    is recorded (the transforms find donor images through it). With several
    processes, every rank must then see the file rank 0 wrote.

    Args:
        img_paths (Sequence[str]): The images.
        data_root (str): The root the mask keys are relative to.
        mask_file (str): The mask file.
        net (ScdaNetSettings, optional): The network. Defaults to None
            (``ScdaNetSettings()``).
        force (bool): Recompute every map. Defaults to False.
        match_settings (bool): Regenerate a file made with other network
            settings (or another non-'auto' ``precision`` / ``decode``).
            Defaults to False (warn and keep it).
        lock_timeout (float, optional): Seconds to wait for another process
            writing ``mask_file`` (None: no limit). Defaults to 3600.
        out_option (str): How errors name ``mask_file``, i.e. where the user
            sets it. Defaults to 'mask_file'.
        logger (logging.Logger | str, optional): Defaults to None ('current').
        **options: Further keyword arguments of
            :func:`~mmtobias.scda.generate_masks` (``batch_size``,
            ``num_workers``, ``num_threads``, ``precision``, ``decode``,
            ``device``, ``shard_size``, ``keep_shards``, ``progress``).

    Returns:
        MaskFileStatus: What was done.
    """
    net = net or ScdaNetSettings()
    logger = logger or 'current'
    data_root = osp.abspath(data_root)
    if force:
        reason = 'every map recomputed (force)'
    else:
        wanted = None
        if match_settings:
            wanted = net.meta()
            wanted.update({k: options[k] for k in ('precision', 'decode')
                           if options.get(k, 'auto') != 'auto'})
        reason = broadcast_json(
            check_mask_file(mask_file, img_paths, data_root, wanted,
                            logger=logger)
            if get_dist_info()[0] == 0 else None)
    if reason is not None:
        print_log(f'Tobias masks: {reason}; generating the masks of '
                  f'{len(img_paths)} images under {data_root} into '
                  f'{mask_file}.', logger=logger)
        summary = generate_masks(img_paths, data_root, mask_file,
                                 **net.to_dict(), reuse=not force,
                                 lock_timeout=lock_timeout,
                                 out_option=out_option, logger=logger,
                                 **options)
        _check_every_rank_sees(mask_file, out_option)
        return MaskFileStatus(reason=reason, summary=summary)
    if get_dist_info()[0] == 0 and not match_settings:
        _warn_on_other_settings(mask_file, net, logger)
    moved_from = _rank0(_record_data_root, mask_file, data_root,
                        lock_timeout, out_option, logger)
    _check_every_rank_sees(mask_file, out_option)
    print_log(f'Tobias masks: {mask_file} matches the {len(img_paths)} '
              f'images; nothing to compute.', logger=logger)
    return MaskFileStatus(moved_from=moved_from)


def _warn_on_other_settings(mask_file: str, net: ScdaNetSettings,
                            logger) -> None:
    meta = MaskStore(mask_file).meta
    diff = [f'{k}: file {meta[k]!r}, requested {v!r}'
            for k, v in net.meta().items() if k in meta and meta[k] != v]
    if diff:
        print_log(f'Tobias masks: keeping {mask_file}, which matches the '
                  f'images but was made with other settings ('
                  + '; '.join(diff) + '). Delete it to regenerate.',
                  logger=logger, level=logging.WARNING)


def _record_data_root(mask_file: str, data_root: str,
                      lock_timeout: Optional[float], out_option: str,
                      logger) -> Optional[str]:
    """Same images under another root (data moved, another mount point):
    record the new root. Returns the old one, None when it is unchanged."""
    old_root = MaskStore(mask_file).meta.get('data_root')
    if not old_root or old_root == data_root:
        return None
    print_log(f'Tobias masks: {mask_file} was made under {old_root}; the '
              f'images are now under {data_root}: recording the new '
              f'data_root.', logger=logger)
    check_writable(mask_file, out_option)
    with MaskFileLock(mask_file + '.lock', lock_timeout, logger):
        store = MaskStore(mask_file)  # as it is under the lock
        keys = store.keys()
        write_mask_store(mask_file, keys, store.all_maps(),
                         [store.is_valid(k) for k in keys],
                         dict(store.meta, data_root=data_root),
                         reasons=store.unreadable, stats=store.stats)
    return old_root


def _rank0(fn, *args):
    """``fn(*args)`` on rank 0, its (JSON) result on every rank; an error
    of rank 0 is raised on every rank, so that none waits for ever."""
    if get_dist_info()[0] != 0:
        out = broadcast_json()
    else:
        try:
            result = fn(*args)
        except Exception as e:
            broadcast_json(dict(error=type(e).__name__, message=str(e)))
            raise
        out = broadcast_json(dict(result=result))
    if 'error' in out:
        raise _ERRORS.get(out['error'], RuntimeError)(
            f"rank 0 failed: {out['message']}")
    return out['result']


def _digest(path: str) -> Optional[str]:
    try:
        with open(path, 'rb') as f:
            return hashlib.sha256(f.read()).hexdigest()
    except OSError:
        return None


def _check_every_rank_sees(mask_file: str, out_option: str) -> None:
    """The transforms of every rank read the file rank 0 wrote: fail
    clearly when a rank sees another file (a work dir on a file system
    that is not shared between nodes), instead of at the first sample."""
    rank, world_size = get_dist_info()
    if world_size == 1:
        return
    digest = broadcast_json(_digest(mask_file) if rank == 0 else None)
    deadline = time.monotonic() + _VISIBLE_TIMEOUT
    while _digest(mask_file) != digest:
        if time.monotonic() > deadline:
            raise ValueError(
                f'Tobias masks: rank {rank} (host {socket.gethostname()}) '
                f'does not see the mask file {mask_file} that rank 0 wrote, '
                f'which its transforms read. Set {out_option} to a path on a '
                f'file system every node shares, or make the file ahead of '
                f'time (bash tools/dist_generate_masks.sh) and copy it to '
                f'that path on every node.')
        time.sleep(1.0)  # a shared file system may show it late
