# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""One writer per mask file, and the output checked before any work."""
import logging
import multiprocessing
import os
import os.path as osp

import pytest
import torch

import mmtobias  # noqa: F401
from mmtobias.scda import compute
from mmtobias.scda import generate as gen
from mmtobias.scda.image_list import scan_images
from mmtobias.testing import make_image_folder

FAST = dict(arch='resnet18', input_size=64, layer4_stride=1, extra_pool=False,
            batch_size=2, num_workers=0, precision='fp32', progress=False,
            shard_size=2)
HANDSHAKE_TIMEOUT = 120  # seconds; only reached when the lock is broken


def _writer(name, root, out, locked, second_waits, results):
    """One of two processes writing the same mask file. 'first' holds the
    lock until 'second' reports that it waits for it."""
    from mmtobias.scda import file_lock
    torch.set_num_threads(1)
    messages = []
    logger = logging.getLogger(f'writer.{name}')
    logger.setLevel(logging.INFO)
    handler = logging.Handler()
    handler.emit = lambda r: messages.append(r.getMessage())
    logger.addHandler(handler)
    if name == 'first':
        save = compute.save_shard

        def save_while_second_waits(*args):
            locked.set()
            second_waits.wait(HANDSHAKE_TIMEOUT)
            save(*args)

        compute.save_shard = save_while_second_waits
    else:
        try_acquire = file_lock.MaskFileLock.try_acquire

        def report_waiting(self):
            held = try_acquire(self)
            if not held:
                second_waits.set()
            return held

        file_lock.MaskFileLock.try_acquire = report_waiting
    try:
        summary = gen.generate_masks(scan_images(root), root, out,
                                     logger=logger, **FAST)
        results.put((name, os.getpid(), summary['num_computed'],
                     summary['written'], messages, None))
    except Exception as e:  # reported to the test, which fails on it
        results.put((name, os.getpid(), None, None, messages, repr(e)))


@pytest.mark.slow
def test_second_writer_waits_then_finds_the_file_up_to_date(tmp_path):
    root = str(tmp_path / 'images')
    make_image_folder(root, num_images=6)
    reference = str(tmp_path / 'reference.tmask')
    gen.generate_masks(scan_images(root), root, reference, **FAST)
    out = str(tmp_path / 'out' / 'm.tmask')
    ctx = multiprocessing.get_context('spawn')
    locked, second_waits, results = ctx.Event(), ctx.Event(), ctx.Queue()
    procs = {name: ctx.Process(target=_writer, args=(
        name, root, out, locked, second_waits, results))
        for name in ('first', 'second')}
    procs['first'].start()
    assert locked.wait(HANDSHAKE_TIMEOUT), 'the first writer never started'
    procs['second'].start()
    got = {}
    for _ in procs:
        name, pid, computed, written, messages, error = results.get(
            timeout=2 * HANDSHAKE_TIMEOUT)
        got[name] = dict(pid=pid, computed=computed, written=written,
                         messages=messages, error=error)
    for proc in procs.values():
        proc.join()
        assert proc.exitcode == 0
    assert got['first']['error'] is None and got['second']['error'] is None
    assert got['first']['computed'] == 6 and got['first']['written']
    # the second waited, naming the holder, then had nothing to do
    assert any(f"pid {got['first']['pid']} on host" in m and 'waiting' in m
               for m in got['second']['messages'])
    assert got['second']['computed'] == 0 and not got['second']['written']
    with open(reference, 'rb') as a, open(out, 'rb') as b:
        assert a.read() == b.read()
    assert os.listdir(osp.dirname(out)) == ['m.tmask']  # no shards, no lock


def test_unwritable_out_fails_before_any_image_is_decoded(tmp_path,
                                                          monkeypatch):
    root = str(tmp_path / 'images')
    paths = make_image_folder(root, num_images=2)
    blocker = tmp_path / 'a_file'
    blocker.write_text('not a folder')  # fails for root too, unlike chmod

    def no_work(*args, **kwargs):
        raise AssertionError('work started before the output was checked')

    monkeypatch.setattr(compute, 'ImageListDataset', no_work)
    monkeypatch.setattr(gen, 'SCDANet', no_work)
    with pytest.raises(ValueError, match=r"--out '.*a_file/m.tmask' cannot be "
                       r'written .*set --out to'):
        gen.generate_masks(paths, root, str(blocker / 'm.tmask'),
                           out_option='--out', **FAST)
    with pytest.raises(ValueError, match=r"shard_dir '.*cannot be written"):
        gen.generate_masks(paths, root, str(tmp_path / 'm.tmask'),
                           shard_dir=str(blocker / 'shards'), **FAST)
    assert not osp.exists(tmp_path / 'm.tmask.lock')
