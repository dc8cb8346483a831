# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""A compact, memory-mapped file of per-image SCDA maps.

File layout (little-endian, format version 1)::

    b'TOBIASMK' | uint32 version | uint32 0 | uint64 header length
    header: UTF-8 JSON {"keys": [...sorted...], "meta": {...},
                        "unreadable": {key: reason}}
    zero padding to a multiple of 64 bytes
    maps: float16 [num_images, grid, grid] in key order, stored as
          map / meta['scale'] (a power of two, so the scaling is exact:
          random-CNN channel sums reach ~1e5, beyond float16's range)
    zero padding to a multiple of 64 bytes
    stats: int64 [num_images, 2] in key order, each image's size in bytes
           and modification time in ns (-1, -1: could not be stat'ed);
           present when the header has "stats": "size,mtime_ns"

A 4x4 map costs 32 bytes per image, its stats 16, plus its key in the index.
The stats make the fingerprint content-aware: an image edited in place (same
name) no longer matches its entry. Files written before the stats existed
(path-only fingerprints) still load; readers that predate them ignore the
trailing section. Unreadable images hold NaN maps, are listed in
``unreadable`` and fall back to "the whole image is foreground". Files are
written to a temporary name and moved into place with ``os.replace``; the
bytes depend only on the content (sorted keys, the images' stats, no write
timestamps).
"""
import bisect
import hashlib
import json
import math
import os
import os.path as osp
import struct
import tempfile
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from .core import top_fraction_mask

__all__ = [
    'MaskStore', 'write_mask_store', 'dataset_fingerprint', 'image_stat',
    'import_released_json', 'export_released_json', 'FORMAT_VERSION'
]

MAGIC = b'TOBIASMK'
FORMAT_VERSION = 1
_PREFIX = struct.Struct('<8sIIQ')
_ALIGN = 64
_STATS_FORMAT = 'size,mtime_ns'
_REGENERATE_HINT = ('regenerate the masks for this dataset '
                    '(python tools/generate_masks.py IMAGE_DIR --out {path}) '
                    'or check data_root')


def _norm_key(key: str) -> str:
    return str(key).replace('\\', '/')


def dataset_fingerprint(relpaths: Iterable[str]) -> str:
    """Fingerprint of an image list: sha256 of the sorted, de-duplicated
    relative paths ('/' separators). Order-insensitive."""
    keys = sorted({_norm_key(p) for p in relpaths})
    digest = hashlib.sha256('\n'.join(keys).encode('utf-8')).hexdigest()
    return f'sha256:{digest}'


def image_stat(path: str) -> Tuple[int, int]:
    """``(size in bytes, mtime in ns)`` of an image file from one
    ``os.stat`` (symlinks followed); ``(-1, -1)`` when it cannot be stat'ed.
    """
    try:
        st = os.stat(path)
    except OSError:
        return (-1, -1)
    return (int(st.st_size), int(st.st_mtime_ns))


def _aligned(offset: int) -> int:
    return offset + (-offset) % _ALIGN


def _atomic_write(path: str, write_fn) -> None:
    path = osp.abspath(path)
    os.makedirs(osp.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        dir=osp.dirname(path), prefix=osp.basename(path) + '.', suffix='.tmp')
    try:
        with os.fdopen(fd, 'wb') as f:
            write_fn(f)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp creates 0600: give the file the permissions open() would have
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


def write_mask_store(path: str,
                     keys: Sequence[str],
                     maps: np.ndarray,
                     valid: Sequence[bool],
                     meta: Optional[dict] = None,
                     *,
                     reasons: Optional[Dict[str, str]] = None,
                     stats=None) -> None:
    """Write a mask file atomically with deterministic bytes.

    Args:
        path (str): Output file.
        keys (Sequence[str]): Image paths relative to the data root.
        maps (np.ndarray): ``(N, grid, grid)`` raw SCDA maps.
        valid (Sequence[bool]): False for images that could not be read.
        meta (dict, optional): Generation settings (backbone, init, seed,
            input_size, data_root, ...). ``grid``, ``num_images``,
            ``num_unreadable``, ``fingerprint``, ``scale`` and
            ``format_version`` are derived here. Defaults to None.
        reasons (dict, optional): Why each unreadable image failed, by key.
        stats (array-like, optional): ``(N, 2)`` integers, each image's
            :func:`image_stat` in the order of ``keys``. None writes a file
            with a path-only fingerprint (e.g. imported masks, whose images
            are unknown). Defaults to None.
    """
    keys = [_norm_key(k) for k in keys]
    maps = np.asarray(maps, dtype=np.float32)
    valid = np.asarray(valid, dtype=bool)
    if maps.ndim != 3 or maps.shape[1] != maps.shape[2]:
        raise ValueError(f'write_mask_store: maps must be (N, grid, grid), '
                         f'got shape {maps.shape}.')
    if not (len(keys) == maps.shape[0] == valid.shape[0]):
        raise ValueError(f'write_mask_store: {len(keys)} keys, '
                         f'{maps.shape[0]} maps and {valid.shape[0]} valid '
                         f'flags; they must have the same length.')
    if stats is not None:
        stats = np.asarray(stats, dtype=np.int64)
        if stats.shape != (len(keys), 2):
            raise ValueError(f'write_mask_store: stats must be ({len(keys)}, '
                             f'2) (size, mtime_ns per key), got shape '
                             f'{stats.shape}.')
    if len(set(keys)) != len(keys):
        raise ValueError('write_mask_store: keys contain duplicates.')
    bad = [k for k in keys if k.startswith('/') or k.split('/')[0] == '..']
    if bad:
        raise ValueError(f'write_mask_store: keys must be relative to the '
                         f'data root, got {bad[:3]}.')
    order = sorted(range(len(keys)), key=keys.__getitem__)
    keys = [keys[i] for i in order]
    maps, valid = maps[order], valid[order]
    if stats is not None:
        stats = np.ascontiguousarray(stats[order].astype('<i8'))
    maps[~valid] = np.nan
    finite = maps[valid]
    max_abs = float(np.abs(finite).max()) if finite.size else 0.0
    if not math.isfinite(max_abs):
        raise ValueError('write_mask_store: a valid map contains inf/NaN.')
    # scale = 2**e with max_abs / scale in [2**14, 2**15): exact in float16.
    exp = math.frexp(max_abs)[1] - 15 if max_abs > 0 else 0
    scale = math.ldexp(1.0, exp)
    data = np.ascontiguousarray((maps / scale).astype('<f2'))

    reasons = {_norm_key(k): str(v) for k, v in (reasons or {}).items()}
    unreadable = {k: reasons.get(k, 'unreadable')
                  for k, ok in zip(keys, valid) if not ok}
    meta = dict(meta or {})
    meta.update(
        grid=int(maps.shape[1]),
        num_images=len(keys),
        num_unreadable=len(unreadable),
        fingerprint=dataset_fingerprint(keys),
        scale=scale,
        format_version=FORMAT_VERSION)
    header = dict(keys=keys, meta=meta, unreadable=unreadable)
    if stats is not None:
        header['stats'] = _STATS_FORMAT
    header = json.dumps(header, sort_keys=True, separators=(',', ':'),
                        allow_nan=False).encode()
    start = _PREFIX.size + len(header)
    maps_end = _aligned(start) + data.nbytes

    def _write(f):
        f.write(_PREFIX.pack(MAGIC, FORMAT_VERSION, 0, len(header)))
        f.write(header)
        f.write(b'\0' * (_aligned(start) - start))
        f.write(data.tobytes())
        if stats is not None:
            f.write(b'\0' * (_aligned(maps_end) - maps_end))
            f.write(stats.tobytes())

    _atomic_write(path, _write)


class MaskStore:
    """Read access to a mask file, lazy and memory-mapped.

    Nothing is opened until first use, and pickling keeps only the path, so a
    store is cheap to send to DataLoader workers (each reopens the file).

    Args:
        path (str): The mask file (written by :func:`write_mask_store`).
    """

    def __init__(self, path: str):
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f'MaskStore: path must be a str, got {path!r}.')
        self.path = os.fspath(path)
        self._loaded = None

    # -- loading -----------------------------------------------------------
    def _load(self) -> dict:
        if self._loaded is not None:
            return self._loaded
        if not osp.isfile(self.path):
            raise FileNotFoundError(
                f'Mask file {self.path} does not exist; ' +
                _REGENERATE_HINT.format(path=self.path) + '.')
        with open(self.path, 'rb') as f:
            prefix = f.read(_PREFIX.size)
            if len(prefix) < _PREFIX.size or prefix[:8] != MAGIC:
                raise ValueError(f'{self.path} is not an mmtobias mask file '
                                 f'(bad magic); ' + _REGENERATE_HINT.format(
                                     path=self.path) + '.')
            _, version, _, header_len = _PREFIX.unpack(prefix)
            if version != FORMAT_VERSION:
                raise ValueError(
                    f'{self.path} has mask format version {version}, this '
                    f'mmtobias reads version {FORMAT_VERSION}; ' +
                    _REGENERATE_HINT.format(path=self.path) + '.')
            header = json.loads(f.read(header_len).decode('utf-8'))
        meta, keys = header['meta'], header['keys']
        grid = int(meta['grid'])
        offset = _aligned(_PREFIX.size + header_len)
        maps = (np.memmap(self.path, dtype='<f2', mode='r', offset=offset,
                          shape=(len(keys), grid, grid))
                if keys else np.zeros((0, grid, grid), '<f2'))
        stats = None
        if header.get('stats') == _STATS_FORMAT:
            stats = (np.memmap(self.path, dtype='<i8', mode='r',
                               offset=_aligned(offset + maps.nbytes),
                               shape=(len(keys), 2))
                     if keys else np.zeros((0, 2), '<i8'))
        self._loaded = dict(
            meta=meta, keys=keys, maps=maps, stats=stats,
            unreadable=header.get('unreadable', {}))
        return self._loaded

    def __getstate__(self):
        return {'path': self.path}

    def __setstate__(self, state):
        self.path = state['path']
        self._loaded = None

    # -- index -------------------------------------------------------------
    def _index(self, key: str) -> int:
        keys = self._load()['keys']
        key = _norm_key(key)
        i = bisect.bisect_left(keys, key)
        if i == len(keys) or keys[i] != key:
            meta = self._load()['meta']
            raise KeyError(
                f'{key!r} is not in the mask file {self.path} '
                f"({len(keys)} images, data_root={meta.get('data_root')!r}); "
                + _REGENERATE_HINT.format(path=self.path))
        return i

    def __len__(self) -> int:
        return len(self._load()['keys'])

    def __contains__(self, key) -> bool:
        keys = self._load()['keys']
        key = _norm_key(key)
        i = bisect.bisect_left(keys, key)
        return i < len(keys) and keys[i] == key

    def keys(self) -> List[str]:
        """The relative image paths, sorted."""
        return list(self._load()['keys'])

    @property
    def meta(self) -> dict:
        return dict(self._load()['meta'])

    @property
    def grid(self) -> int:
        return int(self._load()['meta']['grid'])

    @property
    def stats(self) -> Optional[np.ndarray]:
        """int64 ``(N, 2)``: each image's (size, mtime_ns) at generation
        time, in key order; None for a file with path-only fingerprints."""
        stats = self._load()['stats']
        return None if stats is None else np.array(stats)

    @property
    def unreadable(self) -> Dict[str, str]:
        """Unreadable images at generation time: ``{key: reason}``."""
        return dict(self._load()['unreadable'])

    # -- per image ---------------------------------------------------------
    def get_map(self, key: str) -> np.ndarray:
        """The raw SCDA map, float32 ``(grid, grid)`` (NaN if unreadable)."""
        data = self._load()
        scale = float(data['meta']['scale'])
        return np.asarray(data['maps'][self._index(key)],
                          dtype=np.float32) * np.float32(scale)

    def all_maps(self, rows=None) -> np.ndarray:
        """Raw maps of every image in key order (or of the key positions
        ``rows``), float32 ``(N, grid, grid)``, NaN where unreadable."""
        data = self._load()
        maps = data['maps'] if rows is None else data['maps'][np.asarray(
            rows, np.int64)]
        return np.asarray(maps, dtype=np.float32) * np.float32(
            data['meta']['scale'])

    def is_valid(self, key: str) -> bool:
        """False when the image could not be read at generation time."""
        self._index(key)
        return _norm_key(key) not in self._load()['unreadable']

    def foreground(self, key: str, fraction: float = 0.5) -> np.ndarray:
        """Foreground cells, bool ``(grid, grid)``: the top ``fraction`` of
        the cells by value. Unreadable images: all True (whole image)."""
        if not self.is_valid(key):
            return np.ones((self.grid, self.grid), dtype=bool)
        return top_fraction_mask(self.get_map(key), fraction)

    @staticmethod
    def relpath(img_path: str, data_root: str) -> str:
        """The key of ``img_path``: its path relative to ``data_root``."""
        rel = osp.relpath(osp.abspath(img_path), osp.abspath(data_root))
        rel = rel.replace(os.sep, '/')
        if rel.split('/')[0] == '..':
            raise ValueError(f'Image {img_path} is not under data_root '
                             f'{data_root}; pass the directory the masks were '
                             f'generated from as data_root.')
        return rel

    def __repr__(self) -> str:
        if self._loaded is None:
            return f'{self.__class__.__name__}(path={self.path!r}, unopened)'
        meta = self._loaded['meta']
        return (f"{self.__class__.__name__}(path={self.path!r}, "
                f"num_images={meta['num_images']}, grid={meta['grid']}, "
                f"num_unreadable={meta['num_unreadable']}, "
                f"backbone={meta.get('backbone')!r}, seed={meta.get('seed')})")


def import_released_json(json_path: str,
                         out_path: str,
                         data_root: Optional[str] = None,
                         **meta) -> MaskStore:
    """Convert the released Tobias JSON (``{"cls/f.JPEG": [[4 floats] x 4]}``)
    into a mask file.

    Args:
        json_path (str): The released JSON mask file.
        out_path (str): The mask file to write.
        data_root (str, optional): Directory the JSON keys are relative to,
            recorded as ``meta['data_root']`` (without it, the transform needs
            an explicit ``data_root``). Defaults to None.
        **meta: Extra metadata to record (e.g. ``backbone='resnet50'``).

    Returns:
        MaskStore: The new store.
    """
    with open(json_path, encoding='utf-8') as f:
        released = json.load(f)
    if not isinstance(released, dict) or not released:
        raise ValueError(f'{json_path}: expected a non-empty JSON object '
                         f'{{"relative/path.JPEG": [[floats]...]}}.')
    keys, maps = [], []
    for key, value in released.items():
        arr = np.asarray(value, dtype=np.float32)
        if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
            raise ValueError(f'{json_path}: the map of {key!r} has shape '
                             f'{arr.shape}; expected a square grid.')
        if maps and arr.shape != maps[0].shape:
            raise ValueError(f'{json_path}: the map of {key!r} has shape '
                             f'{arr.shape}, the others {maps[0].shape}.')
        keys.append(key)
        maps.append(arr)
    info = dict(backbone='unknown (imported)', init=None, seed=None,
                input_size=224, source=osp.basename(json_path),
                data_root=osp.abspath(data_root) if data_root else None)
    info.update(meta)
    write_mask_store(out_path, keys, np.stack(maps),
                     np.ones(len(keys), bool), info)
    return MaskStore(out_path)


def export_released_json(store, json_path: str) -> int:
    """Write the valid maps of ``store`` (a MaskStore or a path) in the
    released JSON format. Unreadable images are left out (the format has no
    notion of them). Returns the number of images written."""
    if not isinstance(store, MaskStore):
        store = MaskStore(store)
    out = {k: store.get_map(k).astype(float).tolist()
           for k in store.keys() if store.is_valid(k)}
    text = json.dumps(out, sort_keys=True).encode('utf-8')
    _atomic_write(json_path, lambda f: f.write(text))
    return len(out)
