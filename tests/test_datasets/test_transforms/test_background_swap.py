# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
import os
import os.path as osp
import pickle

import numpy as np
import pytest
import torch
from mmengine.registry import DefaultScope
from PIL import Image

import mmtobias  # noqa: F401  (registers the transforms)
from mmpretrain.registry import DATASETS, TRANSFORMS
from mmtobias.datasets.transforms import load_image_at, paste_cells
from mmtobias.scda import top_fraction_mask, write_mask_store

GRID, SIZE, CELL = 4, 224, 56


def cells(img):
    """(16, 56, 56, 3) cells of a 224 x 224 image in raster order."""
    return img.reshape(GRID, CELL, GRID, CELL, 3).swapaxes(1, 2).reshape(
        GRID * GRID, CELL, CELL, 3)


def make_dataset(root, num=4, size=SIZE, seed=0):
    """``num`` lossless noise images under ``root/images/<cls>/`` and a mask
    file with random maps; returns (mask_file, relpaths, maps)."""
    rng = np.random.RandomState(seed)
    img_root = osp.join(root, 'images')
    keys = []
    for i in range(num):
        key = f'cls{i % 2}/img{i}.png'
        os.makedirs(osp.join(img_root, osp.dirname(key)), exist_ok=True)
        arr = rng.randint(0, 256, (size, size, 3), dtype=np.uint8)
        Image.fromarray(arr).save(osp.join(img_root, key))
        keys.append(key)
    maps = rng.rand(num, GRID, GRID).astype(np.float32) * 100
    mask_file = osp.join(root, 'masks.tmask')
    write_mask_store(mask_file, keys, maps, np.ones(num, bool),
                     dict(data_root=img_root, backbone='resnet50'))
    return mask_file, img_root, keys, maps


@pytest.fixture(autouse=True)
def mmpretrain_scope():
    # MultiView / Compose build nested transforms in the default scope
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        yield


@pytest.fixture
def data(tmp_path):
    return make_dataset(str(tmp_path))


def build(**kwargs):
    return TRANSFORMS.build(dict(type='BackgroundSwap', **kwargs))


def sample(img_root, key):
    path = osp.join(img_root, key)
    return dict(img=load_image_at(path, (SIZE, SIZE)), img_path=path)


def test_paste_cells_on_boolean_grids():
    a = np.zeros((8, 8), np.uint8)
    b = np.arange(64, dtype=np.uint8).reshape(8, 8)
    out = paste_cells(a, b, 4, dst_cells=[0, 15], src_cells=[5, 2])
    assert (out[:2, :2] == b[2:4, 2:4]).all()  # cell 5 -> cell 0
    assert (out[6:, 6:] == b[:2, 4:6]).all()  # cell 2 -> cell 15
    assert out.sum() == b[2:4, 2:4].sum() + b[:2, 4:6].sum()
    assert (a == 0).all()  # input untouched


def test_swap_keeps_foreground_cells_and_permutes_donor_background(data):
    mask_file, img_root, keys, maps = data
    swap = build(prob=1.0, mask_file=mask_file)
    np.random.seed(1)
    for _ in range(6):
        results = sample(img_root, keys[0])
        a = results['img'].copy()
        out = swap(results)
        assert out['swap_applied']
        donor_key = osp.relpath(out['swap_donor_path'], img_root)
        b = load_image_at(out['swap_donor_path'], (SIZE, SIZE))
        fg_a = top_fraction_mask(maps[0], 0.5).ravel()
        fg_b = top_fraction_mask(maps[keys.index(donor_key)], 0.5).ravel()
        c_out, c_a, c_b = cells(out['img']), cells(a), cells(b)
        # foreground cells bit-identical to A's on the 224 grid
        assert np.array_equal(c_out[fg_a], c_a[fg_a])
        # background cells: a permutation of B's background cells
        got = sorted(c.tobytes() for c in c_out[~fg_a])
        want = sorted(c.tobytes() for c in c_b[~fg_b])
        assert got == want


@pytest.mark.parametrize('mode', ['swap', 'random_merge', 'mixup'])
def test_cached_random_params_repeat_the_same_swap(data, mode):
    # mmcv's cache_random_params (TransformBroadcaster share_random_params) allows one
    # draw per randomised method: the donor candidates are drawn in one call.
    from mmcv.transforms.utils import cache_random_params
    mask_file, img_root, keys, _ = data
    swap = build(prob=1.0, mask_file=mask_file, mode=mode)
    np.random.seed(3)
    with cache_random_params(swap):
        first = swap(sample(img_root, keys[0]))
        second = swap(sample(img_root, keys[0]))
    assert first['swap_donor_path'] == second['swap_donor_path']
    assert np.array_equal(first['img'], second['img'])


def test_undecodable_donors_under_cached_random_params(data, monkeypatch):
    # A donor that fails to decode is replaced by the next candidate without a second
    # random draw, which cache_random_params would refuse.
    from mmcv.transforms.utils import cache_random_params

    from mmtobias.datasets.transforms import donor_index

    def broken(path, *args, **kwargs):
        raise OSError(f'cannot decode {path}')

    # the loader every second image goes through (donor_index.load_first)
    monkeypatch.setattr(donor_index, 'load_image_at', broken)
    mask_file, img_root, keys, _ = data
    swap = build(prob=1.0, mask_file=mask_file)
    with cache_random_params(swap):
        out = swap(sample(img_root, keys[0]))
    assert not out['swap_applied']


def test_swap_order_is_random_and_seeded(data):
    mask_file, img_root, keys, _ = data
    swap = build(prob=1.0, mask_file=mask_file)

    def run(seed):
        np.random.seed(seed)
        outs = [swap(sample(img_root, keys[1]))['img'] for _ in range(8)]
        return np.stack(outs)

    assert np.array_equal(run(3), run(3))
    assert not np.array_equal(run(3), run(4))


def test_swap_resizes_back_to_original_size(tmp_path):
    mask_file, img_root, keys, maps = make_dataset(str(tmp_path), size=300)
    swap = build(prob=1.0, mask_file=mask_file)
    path = osp.join(img_root, keys[2])
    img = np.asarray(Image.open(path))[..., ::-1].copy()
    out = swap(dict(img=img, img_path=path))['img']
    assert out.shape == (300, 300, 3) and out.dtype == np.uint8
    assert not np.array_equal(out, img)


@pytest.mark.parametrize('prob', [0.0, 0.3, 1.0])
def test_prob_is_honoured(data, prob):
    mask_file, img_root, keys, _ = data
    swap = build(prob=prob, mask_file=mask_file)
    np.random.seed(0)
    n = 600
    hits = sum(swap(sample(img_root, keys[0]))['swap_applied']
               for _ in range(n))
    # 4 standard deviations of a binomial: fails for a wrong rate
    tol = 4 * np.sqrt(prob * (1 - prob) / n)
    assert abs(hits / n - prob) <= tol


def test_swap_on_query_view_only(data):
    mask_file, img_root, keys, _ = data
    swap = dict(type='BackgroundSwap', prob=1.0, mask_file=mask_file)
    pipeline = TRANSFORMS.build(
        dict(type='MultiView', num_views=[1, 1], transforms=[[swap], []]))
    np.random.seed(0)
    results = sample(img_root, keys[3])
    a = results['img'].copy()
    q, k = pipeline(results)['img']
    assert np.array_equal(k, a)
    assert not np.array_equal(q, a)


def test_random_merge_keeps_half_of_a_and_half_of_b(data):
    mask_file, img_root, keys, _ = data
    rm = build(prob=1.0, mode='random_merge', mask_file=mask_file)
    np.random.seed(0)
    kept_sets = set()
    for _ in range(5):
        results = sample(img_root, keys[0])
        a = results['img'].copy()
        out = rm(results)
        b = load_image_at(out['swap_donor_path'], (SIZE, SIZE))
        c_out, c_a, c_b = cells(out['img']), cells(a), cells(b)
        from_a = np.array([np.array_equal(c_out[i], c_a[i])
                           for i in range(16)])
        if out['swap_donor_path'] != results['img_path']:
            assert from_a.sum() == 8
        b_cells = {c.tobytes() for c in c_b}
        new = [c.tobytes() for c in c_out[~from_a]]
        assert all(c in b_cells for c in new)
        assert len(set(new)) == len(new)  # distinct cells of B
        kept_sets.add(tuple(np.flatnonzero(from_a)))
    assert len(kept_sets) > 1  # positions ignore the masks


def test_mixup_is_a_convex_blend(data):
    mask_file, img_root, keys, _ = data
    mix = build(prob=1.0, mode='mixup', mask_file=mask_file, mixup_alpha=1.0)
    np.random.seed(0)
    lams = []
    for _ in range(20):
        results = sample(img_root, keys[0])
        a = results['img'].astype(np.float64)
        out = mix(results)
        b = load_image_at(out['swap_donor_path'], (SIZE, SIZE)).astype(float)
        if np.array_equal(a, b):
            continue
        y = out['img'].astype(np.float64) - b
        lam = float((y * (a - b)).sum() / ((a - b)**2).sum())
        assert np.abs(lam * a + (1 - lam) * b - out['img']).max() <= 1.0
        lams.append(lam)
    assert 0 <= min(lams) and max(lams) <= 1 and np.std(lams) > 0.1


def test_mixup_with_donor_folder(data):
    _, img_root, keys, _ = data
    mix = build(prob=1.0, mode='mixup', donor_root=img_root)
    out = mix(sample(img_root, keys[0]))
    assert out['swap_applied'] and out['img'].shape == (SIZE, SIZE, 3)


@pytest.mark.slow  # starts DataLoader worker processes
def test_pickle_and_dataloader_with_two_workers(data):
    mask_file, img_root, keys, _ = data
    swap = build(prob=1.0, mask_file=mask_file)
    swap(sample(img_root, keys[0]))  # opens the store in this process
    blob = pickle.dumps(swap)
    assert len(blob) < 2000  # the path, not the memory map or key list
    clone = pickle.loads(blob)
    assert clone(sample(img_root, keys[1]))['swap_applied']

    view = [dict(type='RandomResizedCrop', scale=32, backend='pillow')]
    dataset = DATASETS.build(
        dict(type='CustomDataset', data_root=img_root, data_prefix='',
             with_label=False,
             pipeline=[
                 dict(type='LoadImageFromFile'),
                 dict(type='MultiView', num_views=[1, 1],
                      transforms=[[dict(type='BackgroundSwap', prob=1.0,
                                        mask_file=mask_file), *view], view]),
                 dict(type='PackInputs')
             ]))
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=2, num_workers=2, persistent_workers=True,
        collate_fn=lambda batch: batch)
    for _ in range(2):  # persistent workers reuse their open store
        batches = list(loader)
        assert sum(len(b) for b in batches) == 4
        for item in (x for b in batches for x in b):
            assert [t.shape for t in item['inputs']] == [(3, 32, 32)] * 2


def test_repr_lists_arguments(data):
    swap = build(mask_file=data[0])
    text = repr(swap)
    for arg in ('prob=0.3', "mode='swap'", 'mask_file=', 'grid=None',
                'fraction=0.5', 'canvas_size=224', 'mixup_alpha=1.0'):
        assert arg in text


def test_errors_are_clear(data):
    mask_file, img_root, keys, _ = data
    with pytest.raises(ValueError, match=r'prob must be a number in \[0, 1\]'
                       r', got 1.5'):
        build(prob=1.5, mask_file=mask_file)
    with pytest.raises(ValueError, match=r'prob.*got -0.1'):
        build(prob=-0.1, mask_file=mask_file)
    with pytest.raises(ValueError, match="unknown mode 'cutmix'"):
        build(mode='cutmix', mask_file=mask_file)
    with pytest.raises(ValueError, match='grid=5 must be a positive int '
                       'dividing canvas_size=224'):
        build(grid=5, mask_file=mask_file)
    with pytest.raises(ValueError, match="mode='swap' needs the Tobias masks"):
        build(prob=1.0)(sample(img_root, keys[0]))
    with pytest.raises(ValueError, match="mode='swap' takes its donors from "
                       r"the mask file .*donor_root='.*images'"):
        build(donor_root=img_root)
    with pytest.raises(TypeError, match=r'BackgroundSwap: mask_file must be '
                       r'a path or None, got \[.*\]'):
        build(mask_file=[mask_file])
    with pytest.raises(ValueError, match='mutually exclusive'):
        build(mode='mixup', mask_file=mask_file, donor_root=img_root)
    swap = build(prob=1.0, mask_file=mask_file, grid=8)
    with pytest.raises(ValueError, match='grid=8 but the mask file'):
        swap(sample(img_root, keys[0]))

    # an image the masks were not generated for
    extra = osp.join(img_root, 'cls0', 'new.png')
    Image.fromarray(np.zeros((SIZE, SIZE, 3), np.uint8)).save(extra)
    swap = build(prob=1.0, mask_file=mask_file)
    with pytest.raises(KeyError, match=r'no Tobias mask for image .*new\.png'
                       r'.*generate_masks'):
        swap(dict(img=np.zeros((SIZE, SIZE, 3), np.uint8), img_path=extra))
    with pytest.raises(FileNotFoundError, match='does not exist'):
        build(prob=1.0, mask_file=mask_file + '.missing')(
            sample(img_root, keys[0]))


def test_undecodable_donor_is_redrawn_and_unreadable_masks_skipped(data):
    mask_file, img_root, keys, maps = data
    with open(osp.join(img_root, keys[3]), 'wb') as f:
        f.write(b'not an image')  # breaks after the masks were made
    # keys[2] recorded as unreadable at generation: never a donor
    write_mask_store(mask_file, keys, maps, [True, True, False, True],
                     dict(data_root=img_root))
    swap = build(prob=1.0, mask_file=mask_file)
    np.random.seed(0)
    donors = set()
    for _ in range(30):
        out = swap(sample(img_root, keys[0]))
        if out['swap_applied']:
            donors.add(osp.relpath(out['swap_donor_path'], img_root))
    assert donors == {keys[0], keys[1]}
    # an image whose mask is "unreadable" is all foreground: left unchanged
    results = sample(img_root, keys[2])
    a = results['img'].copy()
    assert np.array_equal(swap(results)['img'], a)


def test_mask_file_set_after_construction(data, tmp_path):
    """The TobiasMaskGenerator hook sets ``mask_file`` on a transform built
    without one (config: ``mask_file`` at the top level only)."""
    mask_file, img_root, keys, maps = data
    swap = build(prob=1.0)
    assert swap.mask_file is None and 'mask_file=None' in repr(swap)
    with pytest.raises(ValueError, match=(
            r"BackgroundSwap: mask_file is not set, and mode='swap' needs the "
            r'Tobias masks\. Set mask_file at the top level of the config '
            r"\(mask_file = '\.\.\.', or --cfg-options mask_file=\.\.\.\) with "
            r"dict\(type='TobiasMaskGenerator'\) in custom_hooks .*or pass "
            r'mask_file=<a Tobias mask file> to '
            r'BackgroundSwap')):
        swap(sample(img_root, keys[0]))
    worker_copy = pickle.loads(pickle.dumps(swap))  # before the hook ran
    swap.mask_file = worker_copy.mask_file = mask_file  # what the hook does
    ref = build(prob=1.0, mask_file=mask_file)
    for t in (swap, worker_copy):
        np.random.seed(1)
        out = t(sample(img_root, keys[0]))
        np.random.seed(1)
        want = ref(sample(img_root, keys[0]))
        assert out['swap_applied']
        assert out['swap_donor_path'] == want['swap_donor_path']
        assert np.array_equal(out['img'], want['img'])
    # a file set later again is followed: here only keys[1] is a donor
    other = str(tmp_path / 'other.tmask')
    write_mask_store(other, keys, maps, [True, True, False, False],
                     dict(data_root=img_root))
    swap.mask_file = other
    for _ in range(10):
        out = swap(sample(img_root, keys[0]))
        assert out['swap_donor_path'] in {osp.join(img_root, k)
                                          for k in keys[:2]}
    # prob 0 never needs donors
    assert not build(prob=0.0)(sample(img_root, keys[0]))['swap_applied']


def test_mask_free_modes_without_a_source_and_donor_root_precedence(data):
    mask_file, img_root, keys, _ = data
    mix = build(prob=1.0, mode='mixup')
    with pytest.raises(ValueError, match=r"mode='mixup' needs donor images.*"
                       r'TobiasMaskGenerator.*mask_file=<a Tobias mask '
                       r'file> or donor_root=<a folder of images>'):
        mix(sample(img_root, keys[0]))
    # donor_root stays the donor source if the hook sets mask_file too
    donors = osp.join(img_root, 'cls1')
    rm = build(prob=1.0, mode='random_merge', donor_root=donors)
    rm.mask_file = mask_file
    np.random.seed(0)
    for _ in range(5):
        out = rm(sample(img_root, keys[0]))
        assert osp.dirname(out['swap_donor_path']) == donors
