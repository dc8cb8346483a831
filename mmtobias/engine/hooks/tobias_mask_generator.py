# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
import hashlib
import logging
import os.path as osp
import socket
import time
from typing import Optional

from mmengine.dist import barrier, broadcast_object_list, get_dist_info
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmpretrain.registry import HOOKS

from mmtobias.scda.core import INIT_SCHEMES, SCDA_ARCHS
from mmtobias.scda.file_lock import MaskFileLock, check_writable
from mmtobias.scda.generate import generate_masks, map_settings
from mmtobias.scda.image_list import dataset_image_paths
from mmtobias.scda.mask_store import MaskStore, write_mask_store
from mmtobias.scda.plan import check_mask_file
from mmtobias.scda.runtime import DECODES, PRECISIONS

# How errors name the hook's output, and how long other ranks wait to see it.
_OUT_OPTION = 'the mask_file of the TobiasMaskGenerator hook'
_VISIBLE_TIMEOUT = 60.0


@HOOKS.register_module()
class TobiasMaskGenerator(Hook):
    """Make sure the Tobias mask file exists for the train dataset.

    Before training, if ``mask_file`` is missing or does not match the train
    dataset (its fingerprint: each image's path relative to the data root,
    size and mtime), the masks are computed with
    :func:`~mmtobias.scda.generate_masks`: only images that are new or
    changed since the file was made are computed (the others are reused),
    every rank takes a share of the shards, finished shards are checkpointed
    next to the mask file (an interrupted run resumes where it stopped), the
    maps reach rank 0 through torch.distributed and rank 0 writes the file,
    holding ``mask_file + '.lock'`` (a second job writing the same file waits
    for it, up to ``lock_timeout``). The output location is tested for
    writing before any image is decoded. Otherwise the hook does nothing.
    Pass the same ``mask_file`` to the ``BackgroundSwap`` transform; it opens
    the file lazily, so DataLoader workers (started after this hook) see the
    masks. Every rank reads the file, so in multi-node training it must be on
    a file system all nodes share (checked after generation).

    The hook builds its own random network, so it is independent of the
    model being trained. Priority ``VERY_HIGH``: it must run before any
    ``before_train`` hook that iterates the training data.

    Args:
        mask_file (str): The mask file (read by the transform).
        data_root (str, optional): Root the mask keys are relative to.
            Defaults to None (the dataset's image folder,
            ``data_prefix['img_path']``).
        arch (str): Random backbone. Defaults to 'resnet50'.
        init (str): Init scheme. Defaults to 'kaiming'.
        seed (int): Seed of the random network. Defaults to 0.
        input_size (int): Images are resized to this square. Defaults to 224.
        layer4_stride (int): Defaults to 2.
        extra_pool (bool): Faithful extra max-pool (7x7 -> 4x4).
            Defaults to True.
        grid (int, optional): Adaptive pooling to this grid. Defaults to None.
        batch_size (int): Images per forward pass. Defaults to 32.
        num_workers (int, optional): Decoding processes. None chooses from
            the cores available to each process: on CPU 0 with <= 2 cores
            (decoding in the main process beats processes that compete with
            the compute threads), else ``min(8, cores // 4)``; on CUDA
            ``min(32, cores - 1)`` (``min(8, cores - 1)`` with
            ``decode='nvjpeg'``, whose workers only read files).
            Defaults to None.
        num_threads (int, optional): Torch threads while computing on CPU
            (restored afterwards). None: ``cores - num_workers``, capped by
            the current ``torch.get_num_threads()``. Defaults to None.
        precision (str): 'auto', 'bf16' or 'fp32'. Defaults to 'auto'.
        decode (str): How images are decoded: 'pil' (the released
            approach: full-size PIL decode, bilinear resize), 'draft'
            (JPEGs decoded by PIL at a reduced DCT scale that keeps the
            input size), 'nvjpeg' (JPEGs decoded and resized on the GPU in
            batches, other files on the CPU; CUDA only, opt-in: its
            agreement with 'pil' is measured on a GPU only) or 'auto'
            ('draft', measured to keep >= 99.9 % of the released approach's
            foreground cells on real photos; when updating an existing
            mask file, the path it was made with). Defaults to 'auto'.
        shard_size (int): Images per checkpointed shard. Defaults to 1024.
        keep_shards (bool): Keep the shard files after merging.
            Defaults to False.
        lock_timeout (float, optional): Seconds to wait for another process
            writing the same mask file (None: no limit). Defaults to 3600.
    """

    priority = 'VERY_HIGH'

    def __init__(self,
                 mask_file: str,
                 data_root: Optional[str] = None,
                 arch: str = 'resnet50',
                 init: str = 'kaiming',
                 seed: int = 0,
                 input_size: int = 224,
                 layer4_stride: int = 2,
                 extra_pool: bool = True,
                 grid: Optional[int] = None,
                 batch_size: int = 32,
                 num_workers: Optional[int] = None,
                 num_threads: Optional[int] = None,
                 precision: str = 'auto',
                 decode: str = 'auto',
                 shard_size: int = 1024,
                 keep_shards: bool = False,
                 lock_timeout: Optional[float] = 3600.0) -> None:
        if not isinstance(mask_file, str) or not mask_file:
            raise TypeError(f'TobiasMaskGenerator: mask_file must be a path '
                            f'string, got {mask_file!r}; set mask_file in '
                            f'the config.')
        if arch not in SCDA_ARCHS:
            raise ValueError(f'TobiasMaskGenerator: arch={arch!r} is not '
                             f'supported; choose one of {SCDA_ARCHS}.')
        if init not in INIT_SCHEMES:
            raise ValueError(f'TobiasMaskGenerator: init={init!r} is not '
                             f'supported; choose one of {INIT_SCHEMES}.')
        if precision not in PRECISIONS:
            raise ValueError(f'TobiasMaskGenerator: precision={precision!r} '
                             f'is not supported; choose one of {PRECISIONS}.')
        if decode not in DECODES:
            raise ValueError(f'TobiasMaskGenerator: decode={decode!r} is not '
                             f'supported; choose one of {DECODES}.')
        self.mask_file = mask_file
        self.data_root = data_root
        self.net_cfg = dict(arch=arch, init=init, seed=seed,
                            input_size=input_size, layer4_stride=layer4_stride,
                            extra_pool=extra_pool, grid=grid)
        self.run_cfg = dict(batch_size=batch_size, num_workers=num_workers,
                            num_threads=num_threads, precision=precision,
                            decode=decode, shard_size=shard_size,
                            keep_shards=keep_shards,
                            lock_timeout=lock_timeout)

    def before_train(self, runner) -> None:
        paths, root = dataset_image_paths(runner.train_dataloader.dataset)
        root = osp.abspath(self.data_root) if self.data_root else root
        # Rank 0 decides, so that every rank takes the same branch.
        reason = [check_mask_file(self.mask_file, paths, root,
                                  logger=runner.logger)
                  if get_dist_info()[0] == 0 else None]
        if get_dist_info()[1] > 1:
            broadcast_object_list(reason, src=0)
        reason = reason[0]
        if reason is None:
            self._check_every_rank_sees_the_file()
            self._warn_on_other_settings(runner, root)
            self._follow_moved_data(runner, root)
            print_log(f'TobiasMaskGenerator: {self.mask_file} matches the '
                      f'{len(paths)} training images; nothing to do.',
                      logger=runner.logger)
        else:
            print_log(f'TobiasMaskGenerator: {reason}; generating masks for '
                      f'{len(paths)} images under {root}.',
                      logger=runner.logger)
            generate_masks(paths, root, self.mask_file, **self.net_cfg,
                           **self.run_cfg, out_option=_OUT_OPTION,
                           logger=runner.logger)
            _restart_prefetching_workers(runner)
            self._check_every_rank_sees_the_file()

    def _warn_on_other_settings(self, runner, root: str) -> None:
        meta = MaskStore(self.mask_file).meta
        # settings that change the maps; a mismatch with an existing file is warned
        diff = [f'{k}: file {meta[k]!r}, hook {v!r}'
                for k, v in map_settings(**self.net_cfg).items()
                if k in meta and meta[k] != v]
        if diff:
            print_log(f'TobiasMaskGenerator: keeping {self.mask_file}, which '
                      f'matches the images but was made with other settings ('
                      + '; '.join(diff) + '). Delete it to regenerate.',
                      logger=runner.logger, level=logging.WARNING)

    def _follow_moved_data(self, runner, root: str) -> None:
        """Same images under another root (data moved, another mount point):
        record the new root, which the transforms use to find donors."""
        rank, world_size = get_dist_info()
        store = MaskStore(self.mask_file)
        old_root = store.meta.get('data_root')
        if not old_root or old_root == root:
            return
        if world_size > 1:
            barrier()  # every rank has read the file before rank 0 replaces it
        if rank == 0:
            print_log(f'TobiasMaskGenerator: {self.mask_file} was made under '
                      f'{old_root}; the images are now under {root}: '
                      'recording the new data_root.', logger=runner.logger)
            check_writable(self.mask_file, _OUT_OPTION)
            lock = MaskFileLock(self.mask_file + '.lock',
                                self.run_cfg['lock_timeout'], runner.logger)
            with lock:
                store = MaskStore(self.mask_file)  # as it is under the lock
                keys = store.keys()
                write_mask_store(self.mask_file, keys, store.all_maps(),
                                 [store.is_valid(k) for k in keys],
                                 dict(store.meta, data_root=root),
                                 reasons=store.unreadable, stats=store.stats)
        if world_size > 1:
            barrier()
            self._check_every_rank_sees_the_file()
        _restart_prefetching_workers(runner)

    def _check_every_rank_sees_the_file(self) -> None:
        """The transforms of every rank read the file rank 0 wrote: fail
        clearly when a rank sees another file (a work dir on a file system
        that is not shared between nodes), instead of at the first sample."""
        rank, world_size = get_dist_info()
        if world_size == 1:
            return
        digest = [_digest(self.mask_file) if rank == 0 else None]
        broadcast_object_list(digest, src=0)
        deadline = time.monotonic() + _VISIBLE_TIMEOUT
        while _digest(self.mask_file) != digest[0]:
            if time.monotonic() > deadline:
                raise ValueError(
                    f'TobiasMaskGenerator: rank {rank} (host '
                    f'{socket.gethostname()}) does not see the mask file '
                    f'{self.mask_file} that rank 0 wrote, which its '
                    f'transforms read. Set mask_file to a path on a file '
                    f'system every node shares, or make the file ahead of '
                    f'time (bash tools/dist_generate_masks.sh) and copy it '
                    f'to that path on every node.')
            time.sleep(1.0)  # a shared file system may show it late

    def __repr__(self) -> str:
        args = dict(mask_file=self.mask_file, data_root=self.data_root,
                    **self.net_cfg, **self.run_cfg)
        return (f'{self.__class__.__name__}(' +
                ', '.join(f'{k}={v!r}' for k, v in args.items()) + ')')


def _digest(path: str) -> Optional[str]:
    try:
        with open(path, 'rb') as f:
            return hashlib.sha256(f.read()).hexdigest()
    except OSError:
        return None


def _restart_prefetching_workers(runner) -> None:
    """Drop DataLoader workers that started before the mask file existed.

    ``IterBasedTrainLoop`` creates its data iterator when the loop is built, i.e. before
    any hook runs, and its workers start prefetching at once: they may already have
    failed on the missing file, or opened a stale one that has just been replaced. The
    workers are shut down and a fresh iterator is made, so new workers are forked from
    the main process, whose transforms have not opened the file.
    """
    loop = runner.train_loop
    if not hasattr(loop, 'dataloader_iterator'):
        return  # epoch-based loops create their iterator after before_train
    loader = loop.dataloader
    old = getattr(loop.dataloader_iterator, '_iterator', None)
    if hasattr(old, '_shutdown_workers'):
        old._shutdown_workers()
    if getattr(loader, '_iterator', None) is not None:  # persistent workers
        loader._iterator = None
    loop.dataloader_iterator = type(loop.dataloader_iterator)(loader)

