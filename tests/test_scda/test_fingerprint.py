# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""Content-aware fingerprints: only new or changed images are recomputed."""
import logging
import os
import os.path as osp

import numpy as np
import pytest
import torch
from PIL import Image

import mmtobias  # noqa: F401
from mmtobias.scda import MaskStore, check_mask_file, image_stat, write_mask_store
from mmtobias.scda import compute
from mmtobias.scda import generate as gen
from mmtobias.scda.image_list import ImageListDataset, scan_images
from mmtobias.testing import make_image_folder

# num_workers=0: images are decoded in this process, where they are recorded.
FAST = dict(arch='resnet18', input_size=64, layer4_stride=1, extra_pool=False,
            batch_size=3, num_workers=0, precision='fp32', progress=False)


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def decoded(monkeypatch):
    """The paths the generator decodes."""
    seen = []

    class Recording(ImageListDataset):

        def __getitem__(self, i):
            seen.append(self.paths[i])
            return super().__getitem__(i)

    monkeypatch.setattr(compute, 'ImageListDataset', Recording)
    return seen


def _records(name):
    records = []
    logger = logging.getLogger(f'test_fingerprint.{name}')
    logger.setLevel(logging.INFO)
    handler = logging.Handler()
    handler.emit = lambda r: records.append(r.getMessage())
    logger.addHandler(handler)
    return logger, records


def _maps(path):
    store = MaskStore(path)
    return {k: store.get_map(k) for k in store.keys()}


def test_mask_file_records_each_image_size_and_mtime(tmp_path):
    root = str(tmp_path / 'images')
    paths = make_image_folder(root, num_images=4)
    out = str(tmp_path / 'm.tmask')
    gen.generate_masks(paths, root, out, **FAST)
    store = MaskStore(out)
    by_key = {MaskStore.relpath(p, root): image_stat(p) for p in paths}
    assert store.stats.dtype == np.int64 and store.stats.shape == (4, 2)
    for key, stat in zip(store.keys(), store.stats.tolist()):
        st = os.stat(osp.join(root, key))
        assert tuple(stat) == by_key[key] == (st.st_size, st.st_mtime_ns)


def test_editing_one_image_recomputes_exactly_that_image(tmp_path, decoded):
    root = str(tmp_path / 'images')
    paths = make_image_folder(root, num_images=6)
    out = str(tmp_path / 'm.tmask')
    gen.generate_masks(paths, root, out, **FAST)
    before = _maps(out)
    assert sorted(decoded) == sorted(paths)
    edited = paths[2]
    key = MaskStore.relpath(edited, root)
    rng = np.random.default_rng(7)
    Image.fromarray(rng.integers(0, 256, (56, 72, 3), np.uint8)).save(edited)
    reason = check_mask_file(out, paths, root)
    assert '1 of 6 images changed' in reason and key in reason
    del decoded[:]
    summary = gen.generate_masks(paths, root, out, **FAST)
    assert decoded == [edited]
    assert summary['num_computed'] == 1 and summary['num_reused'] == 5
    assert summary['written']
    after = _maps(out)
    for k in before:
        if k != key:
            np.testing.assert_array_equal(after[k], before[k])
    assert not np.allclose(after[key], before[key])
    fresh = str(tmp_path / 'fresh.tmask')
    gen.generate_masks(paths, root, fresh, **FAST)
    np.testing.assert_allclose(after[key], MaskStore(fresh).get_map(key),
                               rtol=1e-3)
    assert check_mask_file(out, paths, root) is None  # new stats recorded
    del decoded[:]
    summary = gen.generate_masks(paths, root, out, **FAST)
    assert decoded == [] and not summary['written']
    assert summary['num_computed'] == 0 and summary['num_reused'] == 6


def test_same_size_rewrite_is_found_by_its_mtime(tmp_path, decoded):
    root = tmp_path / 'images'
    root.mkdir()
    rng = np.random.default_rng(0)
    for name in ('a.bmp', 'b.bmp', 'c.bmp'):  # BMP: size fixed by w x h
        Image.fromarray(rng.integers(0, 256, (40, 48, 3), np.uint8)).save(
            root / name)
    paths = scan_images(str(root))
    out = str(tmp_path / 'm.tmask')
    gen.generate_masks(paths, str(root), out, **FAST)
    size = os.path.getsize(root / 'b.bmp')
    mtime = os.stat(root / 'b.bmp').st_mtime_ns
    Image.fromarray(rng.integers(0, 256, (40, 48, 3), np.uint8)).save(
        root / 'b.bmp')
    os.utime(root / 'b.bmp', ns=(mtime + 10**9, mtime + 10**9))
    assert os.path.getsize(root / 'b.bmp') == size
    del decoded[:]
    summary = gen.generate_masks(paths, str(root), out, **FAST)
    assert decoded == [str(root / 'b.bmp')]
    assert summary['num_computed'] == 1


def test_new_and_removed_images_reuse_the_rest(tmp_path, decoded):
    root = str(tmp_path / 'images')
    paths = make_image_folder(root, num_images=5)
    out = str(tmp_path / 'm.tmask')
    gen.generate_masks(paths, root, out, **FAST)
    extra = osp.join(root, 'c', 'new.jpg')
    os.makedirs(osp.dirname(extra))
    Image.new('RGB', (40, 40), (10, 200, 30)).save(extra)
    del decoded[:]
    summary = gen.generate_masks(paths[1:] + [extra], root, out, **FAST)
    assert decoded == [extra]
    assert summary['num_images'] == 5 and summary['num_reused'] == 4
    assert MaskStore.relpath(paths[0], root) not in MaskStore(out)


def test_changed_settings_or_force_recompute_everything(tmp_path, decoded):
    root = str(tmp_path / 'images')
    paths = make_image_folder(root, num_images=3)
    out = str(tmp_path / 'm.tmask')
    gen.generate_masks(paths, root, out, **FAST)
    del decoded[:]
    assert gen.generate_masks(paths, root, out,
                              **dict(FAST, seed=1))['num_computed'] == 3
    assert gen.generate_masks(paths, root, out, reuse=False,
                              **dict(FAST, seed=1))['num_computed'] == 3
    assert len(decoded) == 6


def test_path_only_file_loads_with_a_note_and_is_recomputed(tmp_path,
                                                            decoded):
    root = str(tmp_path / 'images')
    paths = make_image_folder(root, num_images=4)
    out = str(tmp_path / 'm.tmask')
    gen.generate_masks(paths, root, out, **FAST)
    new = MaskStore(out)
    keys = new.keys()
    # what an older mmtobias wrote: the same maps, no stats section
    write_mask_store(out, keys, new.all_maps(), [True] * 4, new.meta)
    old = MaskStore(out)
    assert old.stats is None and len(old) == 4
    np.testing.assert_array_equal(old.get_map(keys[0]), new.get_map(keys[0]))
    logger, records = _records('path_only')
    assert check_mask_file(out, paths, root, logger=logger) is None
    assert any('path-only fingerprints' in m for m in records)
    del decoded[:], records[:]
    summary = gen.generate_masks(paths, root, out, logger=logger, **FAST)
    assert summary['num_computed'] == 4 and summary['num_reused'] == 0
    assert any('path-only fingerprints' in m for m in records)
    assert MaskStore(out).stats is not None
