# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
import logging
import os
import os.path as osp

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from PIL import Image

import mmtobias  # noqa: F401  (registers datasets and applies compat fixes)
from mmtobias.scda import MaskStore, build_scda_backbone, scda_map
from mmtobias.scda import compute
from mmtobias.scda import generate as gen
from mmtobias.scda.image_list import (dataset_image_paths, decode_image,
                                      scan_images)

from mmtobias.testing import free_port, nccl_rules

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
# ../shared/data beside the repository: a real JPEG missing its last bytes
TRUNCATED = osp.join(osp.dirname(REPO), 'shared', 'data', 'kangaroo', 'images', '00090.jpg')
# A tiny but real SCDA network: ResNet-18 at 64x64 with a stride-1 layer4
# gives a 4x4 grid in a few milliseconds per image.
NET = dict(arch='resnet18', input_size=64, layer4_stride=1, extra_pool=False)
FAST = dict(NET, batch_size=3, num_workers=1, precision='fp32',
            progress=False)


@pytest.fixture(autouse=True)
def one_thread():
    # Tiny networks gain nothing from threads, and on a shared machine extra
    # OpenMP threads only spin; 1- and 2-process runs also compare equal.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _make_images(root, n=10, seed=0):
    rng = np.random.default_rng(seed)
    for i in range(n):
        d = osp.join(root, f'class_{i % 2}')
        os.makedirs(d, exist_ok=True)
        h, w = rng.integers(24, 80, size=2)
        arr = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
        arr[h // 4:h // 2, w // 4:w // 2] = 255  # some structure
        ext = '.jpg' if i % 3 else '.PNG'
        Image.fromarray(arr).save(osp.join(d, f'img_{i:02d}{ext}'))
    return scan_images(root)


def _reference_maps(paths, seed=0):
    net = build_scda_backbone(NET['arch'], 'kaiming', seed,
                              NET['layer4_stride'], NET['extra_pool'])
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    out = []
    for p in paths:  # one image at a time, as the released code
        x = torch.from_numpy(decode_image(p, 64)).permute(2, 0, 1)[None]
        with torch.inference_mode():
            out.append(scda_map(net((x.float() / 255 - mean) / std))[0])
    return torch.stack(out).numpy()


@pytest.mark.slow
def test_generate_matches_per_image_scda_and_is_reproducible(tmp_path):
    paths = _make_images(str(tmp_path / 'data'), n=7)
    root = str(tmp_path / 'data')
    a, b = str(tmp_path / 'a.tmask'), str(tmp_path / 'b.tmask')
    summary = gen.generate_masks(paths, root, a, **FAST)
    gen.generate_masks(list(reversed(paths)), root, b, **FAST)
    assert open(a, 'rb').read() == open(b, 'rb').read()
    assert summary['num_images'] == 7 and summary['num_unreadable'] == 0
    assert summary['num_computed'] == 7
    assert not osp.exists(a + '.shards')  # merged and cleaned up
    store = MaskStore(a)
    assert store.keys()[0] == 'class_0/img_00.PNG'
    meta = store.meta
    assert meta['backbone'] == 'resnet18' and meta['seed'] == 0
    assert meta['grid'] == 4 and meta['input_size'] == 64
    assert meta['precision'] == 'fp32' and meta['data_root'] == root
    ref = _reference_maps(paths)
    got = np.stack([store.get_map(MaskStore.relpath(p, root)) for p in paths])
    np.testing.assert_allclose(got, ref, rtol=2e-3)
    c = str(tmp_path / 'c.tmask')
    gen.generate_masks(paths, root, c, **dict(FAST, seed=1))
    assert not np.allclose(MaskStore(c).get_map(store.keys()[0]),
                           store.get_map(store.keys()[0]))


@pytest.mark.slow
def test_bf16_agrees_with_fp32_on_foreground_cells(tmp_path):
    root = str(tmp_path / 'data')
    paths = _make_images(root, n=6)
    out = {}
    for precision in ('fp32', 'bf16'):
        out[precision] = MaskStore(str(tmp_path / f'{precision}.tmask'))
        gen.generate_masks(paths, root, out[precision].path,
                           **dict(FAST, precision=precision))
    assert out['bf16'].meta['precision'] == 'bf16'
    agree = np.mean([(out['fp32'].foreground(k) == out['bf16'].foreground(k))
                     .mean() for k in out['fp32'].keys()])
    assert agree >= 0.9  # the benchmark measures it on real photos


@pytest.mark.slow
def test_bad_inputs_are_recorded_and_named(tmp_path):
    root = tmp_path / 'data'
    _make_images(str(root), n=4)
    bad = root / 'bad'
    bad.mkdir()
    (bad / 'empty.jpg').write_bytes(b'')
    (bad / 'text.jpg').write_text('this is not an image\n')
    (bad / 'tiny.png').write_bytes(b'')
    Image.new('RGB', (3, 5), (200, 10, 10)).save(bad / 'tiny.png')
    Image.new('L', (40, 30), 128).save(bad / 'gray.png')
    Image.new('RGBA', (40, 30), (1, 2, 3, 100)).save(bad / 'rgba.png')
    Image.new('CMYK', (40, 30), (10, 20, 30, 40)).save(bad / 'cmyk.jpg')
    os.symlink(TRUNCATED, bad / 'truncated.jpg')
    records = []
    logger = logging.getLogger('test_bad_inputs')
    logger.addHandler(type('H', (logging.Handler, ), {
        'emit': lambda self, r: records.append(r)})())
    paths = scan_images(str(root))
    out = str(tmp_path / 'm.tmask')
    summary = gen.generate_masks(paths, str(root), out, logger=logger, **FAST)
    unreadable = {'bad/empty.jpg', 'bad/text.jpg', 'bad/tiny.png',
                  'bad/truncated.jpg'}
    assert summary['num_images'] == 11
    assert summary['num_unreadable'] == 4
    assert set(summary['unreadable']) == unreadable
    assert 'truncated' in summary['unreadable']['bad/truncated.jpg']
    assert 'smaller than the 4x4' in summary['unreadable']['bad/tiny.png']
    warnings = [r.getMessage() for r in records
                if r.levelno == logging.WARNING]
    for key in unreadable:
        assert any(str(root / key) in w for w in warnings), key
    assert any('4 unreadable' in w for w in warnings)
    store = MaskStore(out)
    for key in store.keys():
        assert store.is_valid(key) == (key not in unreadable)
        if key in unreadable:
            assert store.foreground(key).all()
        else:
            assert np.isfinite(store.get_map(key)).all()
            assert store.foreground(key).sum() == 8


@pytest.mark.slow
def test_interrupted_run_resumes_to_identical_file(tmp_path, monkeypatch):
    root = str(tmp_path / 'data')
    paths = _make_images(root, n=10)
    full, resumed = str(tmp_path / 'full.tmask'), str(tmp_path / 'r.tmask')
    gen.generate_masks(paths, root, full, shard_size=3, **FAST)
    save = compute.save_shard
    calls = []

    def crash_after_two(*args):
        if len(calls) == 2:
            raise KeyboardInterrupt('simulated interruption')
        calls.append(args[0])
        save(*args)

    monkeypatch.setattr(compute, 'save_shard', crash_after_two)
    with pytest.raises(KeyboardInterrupt):
        gen.generate_masks(paths, root, resumed, shard_size=3, **FAST)
    assert not osp.exists(resumed)
    assert not osp.exists(resumed + '.lock')  # released on the way out
    assert sorted(os.listdir(resumed + '.shards')) == [
        'shard_000000.npz', 'shard_000001.npz']
    monkeypatch.setattr(compute, 'save_shard', save)
    summary = gen.generate_masks(paths, root, resumed, shard_size=3, **FAST)
    assert summary['num_computed'] == 4  # shards 2 (3 images) and 3 (1)
    assert summary['num_resumed'] == 6
    assert open(full, 'rb').read() == open(resumed, 'rb').read()
    assert not osp.exists(resumed + '.shards')
    # Shards made with other settings are not reused.
    summary = gen.generate_masks(paths, root, resumed, shard_size=3,
                                 keep_shards=True, reuse=False, **FAST)
    assert summary['num_computed'] == 10 and summary['num_reused'] == 0
    assert len(os.listdir(resumed + '.shards')) == 4
    summary = gen.generate_masks(paths, root, resumed, shard_size=3,
                                 **dict(FAST, seed=5))
    assert summary['num_computed'] == 10 and summary['num_resumed'] == 0


def _dist_worker(rank, world_size, port, paths, root, out, node_dirs):
    torch.set_num_threads(1)
    torch.distributed.init_process_group(
        'gloo', init_method=f'tcp://127.0.0.1:{port}', rank=rank,
        world_size=world_size)
    if node_dirs:
        # A work dir that is not shared between nodes: the same path names
        # another file system on each node (simulated by a folder per rank).
        out = osp.join(out, f'node{rank}', 'm.tmask')
    try:
        with nccl_rules():
            summary = gen.generate_masks(paths, root, out, shard_size=2,
                                         **dict(FAST, num_workers=0))
        # every rank gets rank 0's summary, without reading the file
        assert summary['num_images'] == 5 and summary['num_computed'] == 5
    finally:
        torch.distributed.destroy_process_group()


@pytest.mark.slow
def test_two_processes_equal_one(tmp_path):
    root = str(tmp_path / 'data')
    paths = _make_images(root, n=5)
    one, two = str(tmp_path / 'one.tmask'), str(tmp_path / 'two.tmask')
    gen.generate_masks(paths, root, one, shard_size=2,
                       **dict(FAST, num_workers=0))
    mp.spawn(_dist_worker, args=(2, free_port(), paths, root, two, False),
             nprocs=2, join=True)
    assert open(one, 'rb').read() == open(two, 'rb').read()
    # the shards both ranks checkpointed were merged and deleted by rank 0
    assert sorted(os.listdir(tmp_path)) == ['data', 'one.tmask', 'two.tmask']


@pytest.mark.slow
def test_two_nodes_without_a_shared_work_dir(tmp_path):
    root = str(tmp_path / 'data')
    paths = _make_images(root, n=5)
    one = str(tmp_path / 'one.tmask')
    gen.generate_masks(paths, root, one, shard_size=2,
                       **dict(FAST, num_workers=0))
    nodes = str(tmp_path / 'nodes')
    mp.spawn(_dist_worker, args=(2, free_port(), paths, root, nodes, True),
             nprocs=2, join=True)
    # Rank 0 wrote the file from maps gathered through torch.distributed;
    # rank 1, which cannot see rank 0's lock, left no shards on its node.
    with open(one, 'rb') as a, open(osp.join(nodes, 'node0', 'm.tmask'),
                                    'rb') as b:
        assert a.read() == b.read()
    assert os.listdir(osp.join(nodes, 'node0')) == ['m.tmask']
    assert not osp.exists(osp.join(nodes, 'node1'))


@pytest.mark.slow
def test_check_mask_file_detects_missing_stale_and_changed(tmp_path):
    root = str(tmp_path / 'data')
    paths = _make_images(root, n=4)
    out = str(tmp_path / 'm.tmask')
    assert 'does not exist' in gen.check_mask_file(out, paths, root)
    gen.generate_masks(paths, root, out, **FAST)
    assert gen.check_mask_file(out, paths, root) is None
    stale = gen.check_mask_file(out, paths[:3], root)
    assert 'another image list' in stale and '4 images' in stale
    other = gen.check_mask_file(out, paths, root,
                                gen.map_settings(**dict(NET, seed=3)))
    assert 'other settings (seed: file 0, wanted 3)' in other
    st = os.stat(paths[1])
    os.utime(paths[1], ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    changed = gen.check_mask_file(out, paths, root)
    key = MaskStore.relpath(paths[1], root)
    assert '1 of 4 images changed' in changed and key in changed
    open(out, 'wb').write(b'garbage')
    assert 'cannot be read' in gen.check_mask_file(out, paths, root)


def test_argument_errors(tmp_path):
    with pytest.raises(ValueError, match='batch_size must be an int >= 1'):
        gen.generate_masks(['a.jpg'], str(tmp_path), 'o', batch_size=0)
    with pytest.raises(ValueError, match='num_threads must be an int >= 1'):
        gen.generate_masks(['a.jpg'], str(tmp_path), 'o', num_threads=0)
    with pytest.raises(ValueError, match='lock_timeout must be a number'):
        gen.generate_masks(['a.jpg'], str(tmp_path), 'o', lock_timeout=-1)
    with pytest.raises(ValueError, match="precision='fp16'"):
        gen.resolve_precision('fp16', 'cpu')
    assert gen.resolve_precision('fp32', 'cpu') == 'fp32'
    with pytest.raises(ValueError, match='not a directory'):
        scan_images(str(tmp_path / 'nope'))
    with pytest.raises(ValueError, match='No images'):
        scan_images(str(tmp_path))
    with pytest.raises(ValueError, match='not under data_root'):
        gen.generate_masks([str(tmp_path / 'a.jpg')], str(tmp_path / 'sub'),
                           'o', **FAST)


def test_dataset_image_paths_uses_the_image_folder(tmp_path):
    from mmpretrain.registry import DATASETS
    root = str(tmp_path / 'data')
    expected = _make_images(root, n=6)
    dataset = DATASETS.build(dict(
        type='RepeatDataset', _scope_='mmpretrain', times=2, dataset=dict(
            type='CustomDataset', data_root=root, with_label=False,
            pipeline=[])))
    paths, data_root = dataset_image_paths(dataset)
    assert paths == expected and data_root == root
