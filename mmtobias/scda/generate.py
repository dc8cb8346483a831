# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""Generate Tobias masks: batched random-CNN SCDA, sharded and resumable.

Work is split into fixed shards of the sorted image list. Each rank computes
its share of the unfinished shards and checkpoints every finished shard to
``shard_dir`` (atomic writes); rank 0 merges them into the mask file. A shard
is computed the same way whichever rank takes it and whenever, so a run that
was interrupted and restarted, or run on a different number of processes,
writes the same file. The shard directory must be on a file system that every
rank sees (as the mask file itself).
"""
import hashlib
import io
import json
import logging
import math
import os.path as osp
import shutil
import time
import zipfile
from contextlib import nullcontext
from typing import Optional, Sequence

import numpy as np
import torch
from mmengine.dist import barrier, broadcast_object_list, get_dist_info
from mmengine.logging import print_log
from mmengine.utils import ProgressBar
from torch.utils.data import DataLoader

from .core import IMAGENET_MEAN, IMAGENET_STD, build_scda_backbone, scda_map
from .image_list import ImageListDataset
from .mask_store import (MaskStore, _atomic_write, dataset_fingerprint,
                         write_mask_store)

__all__ = ['PRECISIONS', 'resolve_precision', 'check_mask_file',
           'generate_masks']

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


def check_mask_file(mask_file: str, img_paths: Sequence[str],
                    data_root: str) -> Optional[str]:
    """Why ``mask_file`` must be (re)generated for these images, or None
    when it exists and its fingerprint matches the image list."""
    if not osp.isfile(mask_file):
        return f'mask file {mask_file} does not exist'
    try:
        meta = MaskStore(mask_file).meta
    except (ValueError, KeyError, OSError) as e:
        return f'mask file {mask_file} cannot be read ({e})'
    keys = [MaskStore.relpath(p, data_root) for p in img_paths]
    if meta.get('fingerprint') != dataset_fingerprint(keys):
        return (f"mask file {mask_file} was made for another image list "
                f"({meta.get('num_images')} images under "
                f"{meta.get('data_root')}; the dataset has {len(set(keys))} "
                f'under {data_root})')
    return None


def _shard_path(shard_dir: str, index: int) -> str:
    return osp.join(shard_dir, f'shard_{index:06d}.npz')


def _load_shard(path: str, signature: str) -> Optional[dict]:
    try:
        with np.load(path, allow_pickle=False) as z:
            if str(z['signature']) != signature:
                return None
            return dict(maps=z['maps'], valid=z['valid'],
                        reasons=json.loads(str(z['reasons'])))
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile):
        return None  # absent, stale or damaged: recompute


def _save_shard(path: str, signature: str, maps, valid, reasons) -> None:
    buf = io.BytesIO()
    np.savez(buf, signature=np.array(signature), maps=maps, valid=valid,
             reasons=np.array(json.dumps(reasons, sort_keys=True)))
    _atomic_write(path, lambda f: f.write(buf.getvalue()))


def map_settings(arch: str = 'resnet50',
                 init: str = 'kaiming',
                 seed: Optional[int] = 0,
                 input_size: int = 224,
                 layer4_stride: int = 2,
                 extra_pool: bool = True,
                 grid: Optional[int] = None) -> dict:
    """The mask-file ``meta`` entries that determine the maps, for the network
    arguments of :func:`generate_masks` (same names and defaults)."""
    return dict(backbone=arch, init=init, seed=seed, input_size=input_size,
                layer4_stride=layer4_stride, extra_pool=extra_pool, grid_pool=grid)


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
                   num_workers: int = 2,
                   precision: str = 'auto',
                   channels_last: bool = True,
                   device=None,
                   shard_size: int = 1024,
                   shard_dir: Optional[str] = None,
                   keep_shards: bool = False,
                   progress: bool = True,
                   logger=None) -> dict:
    """Compute the SCDA maps of ``img_paths`` and write the mask file.

    Call it on every rank with the same arguments (or without
    ``torch.distributed``: one process). Network arguments: see
    :func:`~mmtobias.scda.build_scda_backbone`; ``precision`` is 'fp32',
    'bf16' (autocast) or 'auto' (see :func:`resolve_precision`).

    Returns:
        dict: ``out_file``, ``num_images``, ``num_unreadable``,
        ``unreadable`` ({key: reason}), ``num_computed``, ``seconds`` and
        ``images_per_second`` (of this run's computation).
    """
    for name, value, low in (('batch_size', batch_size, 1),
                             ('shard_size', shard_size, 1),
                             ('num_workers', num_workers, 0),
                             ('input_size', input_size, 32)):
        if not isinstance(value, int) or isinstance(value, bool) \
                or value < low:
            raise ValueError(f'{name} must be an int >= {low}, got {value!r}.')
    rank, world_size = get_dist_info()
    device = torch.device(device or (
        'cuda' if torch.cuda.is_available() else 'cpu'))
    precision = resolve_precision(precision, device)
    data_root = osp.abspath(data_root)
    pairs = sorted({(MaskStore.relpath(p, data_root), osp.abspath(p))
                    for p in img_paths})
    if not pairs:
        raise ValueError(f'No images given to generate masks for (data_root '
                         f'{data_root}).')
    keys, paths = [k for k, _ in pairs], [p for _, p in pairs]
    num = len(keys)

    model = build_scda_backbone(arch, init, seed, layer4_stride, extra_pool,
                                grid).to(device)
    memory_format = (
        torch.channels_last if channels_last else torch.contiguous_format)
    model = model.to(memory_format=memory_format)
    with torch.inference_mode():
        out_hw = model(torch.zeros(1, 3, input_size, input_size,
                                   device=device)).shape[-2:]
    if out_hw[0] != out_hw[1]:
        raise ValueError(f'The network gives a {tuple(out_hw)} map at '
                         f'input_size={input_size}; masks need a square grid.')
    g = int(out_hw[0])
    meta = dict(map_settings(arch, init, seed, input_size, layer4_stride, extra_pool,
                             grid),
                precision=precision, data_root=data_root,
                aggregation='channel_sum', resize='bilinear')
    signature = hashlib.sha256(json.dumps(
        dict(meta, grid=g, shard_size=shard_size, batch_size=batch_size,
             fingerprint=dataset_fingerprint(keys)),
        sort_keys=True).encode()).hexdigest()
    shard_dir = shard_dir or out_file + '.shards'
    num_shards = math.ceil(num / shard_size)
    pending = [[i for i in range(num_shards)
                if _load_shard(_shard_path(shard_dir, i), signature) is None]
               if rank == 0 else None]
    if world_size > 1:
        broadcast_object_list(pending, src=0)  # one view of what is done
    pending = pending[0]
    mine = pending[rank::world_size]

    batches = []
    for s in mine:
        stop = min((s + 1) * shard_size, num)
        batches += [list(range(b, min(b + batch_size, stop)))
                    for b in range(s * shard_size, stop, batch_size)]
    mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1)
    autocast = (torch.autocast(device.type, dtype=torch.bfloat16)
                if precision == 'bf16' else nullcontext())
    bar = (ProgressBar(sum(map(len, batches)))
           if progress and rank == 0 and batches else None)
    open_shards = {}
    start = time.perf_counter()
    if batches:
        loader = DataLoader(
            ImageListDataset(paths, input_size, min_size=g),
            batch_sampler=batches, num_workers=num_workers)
        for idx, imgs, ok, reasons in loader:
            # imgs: N x 3 x S x S uint8 -> normalised float
            x = imgs.to(device).float().div_(255).sub_(mean).div_(std)
            x = x.contiguous(memory_format=memory_format)
            with torch.inference_mode(), autocast:
                maps = scda_map(model(x)).cpu().numpy()  # N x g x g
            for j, i in enumerate(idx.tolist()):
                s = i // shard_size
                if s not in open_shards:
                    n_s = min(shard_size, num - s * shard_size)
                    open_shards[s] = dict(
                        maps=np.full((n_s, g, g), np.nan, np.float32),
                        valid=np.zeros(n_s, bool), reasons={}, filled=0)
                buf = open_shards[s]
                buf['maps'][i - s * shard_size] = maps[j]
                buf['valid'][i - s * shard_size] = bool(ok[j])
                if not ok[j]:
                    buf['reasons'][keys[i]] = reasons[j]
                    print_log(
                        f'Tobias masks: cannot read {paths[i]} ({reasons[j]})'
                        f'; recorded as unreadable, its mask falls back to '
                        f'the whole image as foreground.',
                        logger=logger or 'current', level=logging.WARNING)
                buf['filled'] += 1
                if buf['filled'] == len(buf['maps']):
                    _save_shard(_shard_path(shard_dir, s), signature,
                                buf['maps'], buf['valid'], buf['reasons'])
                    del open_shards[s]
            if bar is not None:
                bar.update(len(idx))
        if bar is not None:
            bar.file.write('\n')
    barrier()
    seconds = time.perf_counter() - start
    num_computed = sum(
        min(shard_size, num - s * shard_size) for s in pending)

    if rank == 0:
        maps = np.empty((num, g, g), np.float32)
        valid = np.empty(num, bool)
        reasons = {}
        for s in range(num_shards):
            shard = _load_shard(_shard_path(shard_dir, s), signature)
            if shard is None:
                raise RuntimeError(f'Shard {s} is missing from {shard_dir} '
                                   f'after generation; did a rank fail?')
            maps[s * shard_size:s * shard_size + len(shard['maps'])] = \
                shard['maps']
            valid[s * shard_size:s * shard_size + len(shard['maps'])] = \
                shard['valid']
            reasons.update(shard['reasons'])
        write_mask_store(out_file, keys, maps, valid, meta, reasons=reasons)
        if not keep_shards:
            shutil.rmtree(shard_dir, ignore_errors=True)
        speed = num_computed / seconds if seconds > 0 else float('nan')
        print_log(
            f'Tobias masks: computed {num_computed} images in {seconds:.1f} s '
            f'({speed:.1f} img/s; {world_size} process(es), batch '
            f'{batch_size}, {precision}, {num_workers} decode workers; '
            f'{num_shards - len(pending)}/{num_shards} shards reused)',
            logger=logger or 'current')
        names = ', '.join(sorted(reasons)[:10])
        print_log(
            f'Tobias masks: wrote {out_file}: {num} images, '
            f'{len(reasons)} unreadable'
            + (f' ({names}{", ..." if len(reasons) > 10 else ""}; '
               'whole-image foreground)' if reasons else ''),
            logger=logger or 'current',
            level=logging.WARNING if reasons else logging.INFO)
    barrier()
    store = MaskStore(out_file)
    return dict(
        out_file=out_file, num_images=len(store),
        num_unreadable=store.meta['num_unreadable'],
        unreadable=store.unreadable, num_computed=num_computed,
        seconds=seconds,
        images_per_second=num_computed / seconds if seconds > 0 else 0.0)
