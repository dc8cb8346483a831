# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
import json
import os
import pickle

import numpy as np
import pytest

from mmtobias.scda import (MaskStore, dataset_fingerprint,
                           export_released_json, image_stat,
                           import_released_json, top_fraction_mask,
                           write_mask_store)


def _content(n=5, grid=4, seed=0):
    rng = np.random.default_rng(seed)
    keys = [f'cls{i % 2}/img_{i}.jpg' for i in range(n)]
    # Random-R-50 channel sums are ~1e5: beyond float16's range on purpose.
    maps = rng.uniform(2e4, 1e5, size=(n, grid, grid)).astype(np.float32)
    valid = np.ones(n, bool)
    valid[1] = False
    meta = dict(backbone='resnet50', init='kaiming', seed=0, input_size=224,
                data_root='/data/root')
    return keys, maps, valid, meta


def test_roundtrip_meta_and_values(tmp_path):
    keys, maps, valid, meta = _content()
    path = str(tmp_path / 'masks.tmask')
    write_mask_store(path, keys, maps, valid, meta,
                     reasons={keys[1]: 'image file is truncated'})
    store = MaskStore(path)
    assert len(store) == 5 and store.grid == 4
    assert store.keys() == sorted(keys)
    assert keys[0] in store and 'nope.jpg' not in store
    m = store.meta
    for field in ('backbone', 'init', 'seed', 'input_size', 'data_root'):
        assert m[field] == meta[field]
    assert m['num_images'] == 5 and m['num_unreadable'] == 1
    assert m['fingerprint'] == dataset_fingerprint(keys)
    assert m['format_version'] == 1 and m['grid'] == 4
    for i, k in enumerate(keys):
        if valid[i]:
            got = store.get_map(k)
            assert got.dtype == np.float32 and got.shape == (4, 4)
            np.testing.assert_allclose(got, maps[i], rtol=1e-3)
            assert np.array_equal(store.foreground(k),
                                  top_fraction_mask(got))
            assert store.foreground(k).sum() == 8
            assert store.foreground(k, 0.25).sum() == 4
    assert not store.is_valid(keys[1]) and store.is_valid(keys[0])
    assert np.isnan(store.get_map(keys[1])).all()
    assert store.foreground(keys[1]).all()  # documented whole-image fallback
    assert store.unreadable == {keys[1]: 'image file is truncated'}


def test_writes_are_deterministic_and_compact(tmp_path):
    keys, maps, valid, meta = _content(n=50)
    a, b = str(tmp_path / 'a.tmask'), str(tmp_path / 'b.tmask')
    write_mask_store(a, keys, maps, valid, meta)
    perm = np.random.default_rng(1).permutation(50)
    write_mask_store(b, [keys[i] for i in perm], maps[perm], valid[perm],
                     dict(reversed(list(meta.items()))))
    with open(a, 'rb') as fa, open(b, 'rb') as fb:
        assert fa.read() == fb.read()
    # 32 bytes of float16 per 4x4 map; the rest is the index (keys + meta).
    index_bytes = sum(len(k) + 3 for k in keys) + 1024
    assert os.path.getsize(a) <= 50 * 32 + index_bytes
    assert not [f for f in os.listdir(tmp_path) if f.endswith('.tmp')]


def test_store_is_lazy_and_cheap_to_pickle(tmp_path):
    missing = MaskStore(str(tmp_path / 'later.tmask'))  # nothing opened yet
    assert 'unopened' in repr(missing)
    keys, maps, valid, meta = _content(n=200)
    write_mask_store(missing.path, keys, maps, valid, meta)
    assert len(missing) == 200  # opens at first use
    assert 'num_images=200' in repr(missing)
    blob = pickle.dumps(missing)
    assert len(blob) < 200
    clone = pickle.loads(blob)
    assert clone._loaded is None
    np.testing.assert_array_equal(clone.get_map(keys[3]),
                                  missing.get_map(keys[3]))


def test_missing_file_and_key_errors(tmp_path):
    path = str(tmp_path / 'm.tmask')
    with pytest.raises(FileNotFoundError, match='generate_masks.py'):
        len(MaskStore(path))
    keys, maps, valid, meta = _content()
    write_mask_store(path, keys, maps, valid, meta)
    store = MaskStore(path)
    with pytest.raises(KeyError) as err:
        store.get_map('other/x.jpg')
    msg = str(err.value)
    assert 'other/x.jpg' in msg and path in msg
    assert 'generate_masks.py' in msg and 'data_root' in msg
    with pytest.raises(KeyError, match='other/x.jpg'):
        store.foreground('other/x.jpg')
    bad = tmp_path / 'bad.tmask'
    bad.write_bytes(b'not a mask file at all')
    with pytest.raises(ValueError, match='not an mmtobias mask file'):
        MaskStore(str(bad)).keys()
    with pytest.raises(TypeError, match='path must be a str'):
        MaskStore(3)


def test_failed_write_keeps_the_previous_file(tmp_path):
    keys, maps, valid, meta = _content()
    path = str(tmp_path / 'm.tmask')
    write_mask_store(path, keys, maps, valid, meta)
    before = open(path, 'rb').read()
    maps[0, 0, 0] = np.inf
    with pytest.raises(ValueError, match='inf/NaN'):
        write_mask_store(path, keys, maps, valid, meta)
    with pytest.raises(ValueError, match='duplicates'):
        write_mask_store(path, keys[:1] * 2, maps[:2], valid[:2], meta)
    with pytest.raises(ValueError, match='same length'):
        write_mask_store(path, keys, maps[:2], valid, meta)
    with pytest.raises(ValueError, match='relative to the data root'):
        write_mask_store(path, ['/abs.jpg'], maps[:1], valid[:1], meta)
    assert open(path, 'rb').read() == before
    assert os.listdir(tmp_path) == ['m.tmask']


def test_relpath_and_fingerprint(tmp_path):
    root = str(tmp_path / 'root')
    assert MaskStore.relpath(os.path.join(root, 'a', 'b.jpg'), root) == 'a/b.jpg'
    with pytest.raises(ValueError, match='not under data_root'):
        MaskStore.relpath(str(tmp_path / 'x.jpg'), root)
    fp = dataset_fingerprint(['b.jpg', 'a/c.jpg'])
    assert fp == dataset_fingerprint(['a/c.jpg', 'b.jpg', 'b.jpg'])
    assert fp != dataset_fingerprint(['b.jpg', 'a/d.jpg'])
    assert fp.startswith('sha256:')


def test_released_json_import_export_roundtrip(tmp_path):
    rng = np.random.default_rng(0)
    released = {
        f'n0{i}/n0{i}_{j}.JPEG': rng.uniform(3e4, 9e4, (4, 4)).tolist()
        for i in range(2) for j in range(3)
    }
    src = tmp_path / 'released.json'
    src.write_text(json.dumps(released))
    store = import_released_json(str(src), str(tmp_path / 'm.tmask'),
                                 data_root=str(tmp_path), backbone='resnet50')
    assert len(store) == 6 and store.grid == 4
    assert store.meta['backbone'] == 'resnet50'
    assert store.meta['data_root'] == str(tmp_path)
    for k, v in released.items():
        np.testing.assert_allclose(store.get_map(k), v, rtol=1e-3)
        assert np.array_equal(store.foreground(k),
                              top_fraction_mask(np.array(v)))
    out = tmp_path / 'exported.json'
    assert export_released_json(store, str(out)) == 6
    back = json.loads(out.read_text())
    assert sorted(back) == sorted(released)
    for k in released:
        np.testing.assert_allclose(back[k], released[k], rtol=1e-3)
    src.write_text(json.dumps({'a.jpg': [[1, 2, 3]]}))
    with pytest.raises(ValueError, match="'a.jpg' has shape"):
        import_released_json(str(src), str(tmp_path / 'x.tmask'))


def test_stats_roundtrip_in_key_order_and_deterministic(tmp_path):
    keys, maps, valid, meta = _content(n=6)
    stats = np.array([[100 + i, 10**18 + i] for i in range(6)], np.int64)
    a, b = str(tmp_path / 'a.tmask'), str(tmp_path / 'b.tmask')
    write_mask_store(a, keys, maps, valid, meta, stats=stats)
    perm = np.random.default_rng(2).permutation(6)
    write_mask_store(b, [keys[i] for i in perm], maps[perm], valid[perm],
                     meta, stats=stats[perm])
    with open(a, 'rb') as fa, open(b, 'rb') as fb:
        assert fa.read() == fb.read()
    store = MaskStore(a)
    by_key = dict(zip(keys, stats.tolist()))
    assert store.stats.tolist() == [by_key[k] for k in store.keys()]
    order = np.argsort(keys)  # key order
    got = store.all_maps()
    np.testing.assert_allclose(got[valid[order]], maps[order][valid[order]],
                               rtol=1e-3)
    assert np.isnan(got[~valid[order]]).all()
    np.testing.assert_array_equal(store.all_maps([2, 0]), got[[2, 0]])
    # 16 bytes of stats per image after the maps
    plain = str(tmp_path / 'plain.tmask')
    write_mask_store(plain, keys, maps, valid, meta)
    assert MaskStore(plain).stats is None
    assert os.path.getsize(a) - os.path.getsize(plain) <= 6 * 16 + 2 * 64
    with pytest.raises(ValueError, match=r'stats must be \(6, 2\)'):
        write_mask_store(a, keys, maps, valid, meta, stats=stats[:, :1])


def test_image_stat_is_size_and_mtime_ns(tmp_path):
    path = tmp_path / 'x.jpg'
    path.write_bytes(b'12345')
    os.utime(path, ns=(1, 1_700_000_000_123_456_789))
    assert image_stat(str(path)) == (5, 1_700_000_000_123_456_789)
    assert image_stat(str(tmp_path / 'missing.jpg')) == (-1, -1)
