# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""ensure_masks: the hook's and the CLI's work without a runner."""
import logging
import os.path as osp
import shutil

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

import mmtobias  # noqa: F401
from mmtobias.scda import (MaskStore, ScdaNetSettings, ensure_masks,
                           scan_images)
from mmtobias.scda import ensure as ensure_mod
from mmtobias.testing import free_port, make_image_folder, nccl_rules

NET = ScdaNetSettings(arch='resnet18', input_size=64, layer4_stride=1,
                      extra_pool=False)
RUN = dict(batch_size=2, num_workers=0, precision='fp32', progress=False)


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _logger(name):
    records = []
    logger = logging.getLogger(f'test_ensure.{name}')
    logger.setLevel(logging.INFO)
    handler = logging.Handler()
    handler.emit = records.append
    logger.addHandler(handler)
    return logger, records


def test_ensure_generates_keeps_then_follows_a_moved_root(tmp_path,
                                                          monkeypatch):
    root = str(tmp_path / 'old')
    make_image_folder(root, num_images=4)
    out = str(tmp_path / 'm.tmask')
    first = ensure_masks(scan_images(root), root, out, NET, **RUN)
    assert 'does not exist' in first.reason and first.changed
    assert first.summary['num_computed'] == 4
    before = open(out, 'rb').read()

    def fail(*args, **kwargs):
        raise AssertionError('masks regenerated although up to date')

    monkeypatch.setattr(ensure_mod, 'generate_masks', fail)
    second = ensure_masks(scan_images(root), root, out, NET, **RUN)
    assert second.reason is None and not second.changed
    assert open(out, 'rb').read() == before

    new_root = str(tmp_path / 'new')
    shutil.move(root, new_root)
    moved = ensure_masks(scan_images(new_root), new_root, out, NET, **RUN)
    assert moved.moved_from == root and moved.changed
    store = MaskStore(out)
    assert store.meta['data_root'] == new_root
    old = MaskStore(str(tmp_path / 'copy.tmask'))
    with open(old.path, 'wb') as f:
        f.write(before)
    for key in store.keys():
        np.testing.assert_array_equal(store.get_map(key), old.get_map(key))


def test_other_settings_are_kept_with_a_warning_or_matched(tmp_path):
    root = str(tmp_path / 'images')
    paths = make_image_folder(root, num_images=3)
    out = str(tmp_path / 'm.tmask')
    ensure_masks(paths, root, out, NET, **RUN)
    logger, records = _logger('settings')
    other = ScdaNetSettings(**dict(NET.to_dict(), seed=3))
    kept = ensure_masks(paths, root, out, other, logger=logger, **RUN)
    assert kept.reason is None and MaskStore(out).meta['seed'] == 0
    assert any('seed: file 0, requested 3' in r.getMessage()
               for r in records if r.levelno == logging.WARNING)
    redone = ensure_masks(paths, root, out, other, match_settings=True,
                          logger=logger, **RUN)
    assert 'seed: file 0, wanted 3' in redone.reason
    assert MaskStore(out).meta['seed'] == 3
    forced = ensure_masks(paths, root, out, other, force=True, **RUN)
    assert forced.summary['num_computed'] == 3
    assert forced.summary['num_reused'] == 0


def test_unwritable_file_is_named_by_its_option(tmp_path):
    root = str(tmp_path / 'images')
    paths = make_image_folder(root, num_images=1)
    blocker = tmp_path / 'a_file'
    blocker.write_text('not a folder')
    with pytest.raises(ValueError, match=r"the top-level mask_file '.*' "
                       r'cannot be written'):
        ensure_masks(paths, root, str(blocker / 'm.tmask'), NET,
                     out_option='the top-level mask_file', **RUN)


def _dist_worker(rank, world_size, port, root, out, node_dirs):
    torch.set_num_threads(1)
    torch.distributed.init_process_group(
        'gloo', init_method=f'tcp://127.0.0.1:{port}', rank=rank,
        world_size=world_size)
    ensure_mod._VISIBLE_TIMEOUT = 0.0
    if node_dirs:  # a work dir that is not shared: a folder per rank
        out = osp.join(out, f'node{rank}', 'm.tmask')
    try:
        with nccl_rules():
            if node_dirs:
                if rank == 0:
                    ensure_masks(scan_images(root), root, out, NET, **RUN)
                    return
                with pytest.raises(ValueError, match='rank 1 .* does not see '
                                   r'.*Set --out to a path on a file system'):
                    ensure_masks(scan_images(root), root, out, NET,
                                 out_option='--out', **RUN)
                return
            first = ensure_masks(scan_images(root), root, out, NET, **RUN)
            assert first.summary['num_computed'] == 4  # rank 0's, everywhere
            second = ensure_masks(scan_images(root), root, out, NET, **RUN)
            assert not second.changed
            torch.distributed.barrier()
            new_root = root + '_moved'
            if rank == 0:
                shutil.move(root, new_root)
            torch.distributed.barrier()
            moved = ensure_masks(scan_images(new_root), new_root, out, NET,
                                 **RUN)
            assert moved.moved_from == root
            assert MaskStore(out).meta['data_root'] == new_root
    finally:
        torch.distributed.destroy_process_group()


@pytest.mark.slow
@pytest.mark.parametrize('node_dirs', [False, True])
def test_two_ranks_share_the_decision_and_the_file(tmp_path, node_dirs):
    root = str(tmp_path / 'images')
    make_image_folder(root, num_images=4)
    out = str(tmp_path / 'work') if node_dirs else str(tmp_path / 'm.tmask')
    mp.spawn(_dist_worker, args=(2, free_port(), root, out, node_dirs),
             nprocs=2, join=True)
