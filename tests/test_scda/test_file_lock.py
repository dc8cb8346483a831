# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
import json
import logging
import os
import socket
import subprocess
import sys
import time

import pytest

from mmtobias.scda import MaskFileLock, check_writable
from mmtobias.scda import file_lock


def _logger(name):
    records = []
    logger = logging.getLogger(f'test_file_lock.{name}')
    logger.setLevel(logging.INFO)
    handler = logging.Handler()
    handler.emit = lambda r: records.append(r.getMessage())
    logger.addHandler(handler)
    return logger, records


def _dead_pid():
    proc = subprocess.Popen([sys.executable, '-c', 'pass'])
    proc.wait()
    return proc.pid


def _write_lock(path, **changes):
    info = dict(file_lock._identity(), token='someone-else')
    info.update(changes)
    with open(path, 'w') as f:
        json.dump(info, f)


def test_lock_records_its_holder_and_is_exclusive(tmp_path):
    path = str(tmp_path / 'm.tmask.lock')
    logger, records = _logger('exclusive')
    first = MaskFileLock(path, timeout=None)
    second = MaskFileLock(path, timeout=None, logger=logger)
    assert first.try_acquire() and first.held
    info = json.load(open(path))
    assert info['pid'] == os.getpid()
    assert info['host'] == socket.gethostname()
    assert info['token'] == first.token and info['started']
    assert first.held_by(first.token) and not first.held_by(second.token)
    assert not second.try_acquire()
    assert any(f'pid {os.getpid()} on host {socket.gethostname()}' in m
               and path in m for m in records)
    first.release()
    assert not os.path.exists(path)
    assert second.try_acquire()
    second.release()
    assert 'held=False' in repr(second) and path in repr(second)


def test_lock_is_released_when_the_work_fails(tmp_path):
    path = str(tmp_path / 'm.tmask.lock')
    with pytest.raises(RuntimeError, match='boom'):
        with MaskFileLock(path):
            assert os.path.exists(path)
            raise RuntimeError('boom')
    assert not os.path.exists(path)


@pytest.mark.slow
def test_stale_lock_of_a_dead_process_is_taken_over(tmp_path):
    path = str(tmp_path / 'm.tmask.lock')
    pid = _dead_pid()
    _write_lock(path, pid=pid, proc_start='1')
    logger, records = _logger('stale')
    lock = MaskFileLock(path, timeout=0, logger=logger)
    assert lock.try_acquire()
    assert json.load(open(path))['token'] == lock.token
    assert any('taking over the stale lock' in m and f'pid {pid}' in m
               for m in records)
    lock.release()


def test_lock_from_before_a_reboot_is_stale(tmp_path):
    path = str(tmp_path / 'm.tmask.lock')
    _write_lock(path, boot='another-boot')
    if file_lock._identity()['boot'] is None:
        pytest.skip('no /proc/sys/kernel/random/boot_id here')
    lock = MaskFileLock(path, timeout=0)
    assert lock.try_acquire()
    lock.release()


@pytest.mark.parametrize('holder', [
    dict(host='node-17'),  # another machine: its pids cannot be looked at
    dict(pidns='pid:[1]'),  # another container on this machine
    dict(),  # this very process, alive
])
def test_live_or_unknowable_holder_is_waited_for_then_named(tmp_path, holder):
    path = str(tmp_path / 'm.tmask.lock')
    _write_lock(path, **holder)
    lock = MaskFileLock(path, timeout=0)
    assert not lock.try_acquire()
    time.sleep(0.01)  # past the zero timeout
    host = holder.get('host', socket.gethostname())
    with pytest.raises(TimeoutError) as err:
        lock.try_acquire()
    msg = str(err.value)
    assert f'pid {os.getpid()} on host {host}' in msg
    assert path in msg and 'lock_timeout' in msg and 'delete' in msg
    assert json.load(open(path))['token'] == 'someone-else'  # left alone


def test_unreadable_lock_is_stale_only_when_old(tmp_path):
    path = str(tmp_path / 'm.tmask.lock')
    open(path, 'w').close()  # a crash between creating and filling it
    lock = MaskFileLock(path, timeout=None)
    assert not lock.try_acquire()
    old = time.time() - 2 * MaskFileLock.EMPTY_LOCK_AGE
    os.utime(path, (old, old))
    assert lock.try_acquire()
    lock.release()


def test_check_writable_names_the_option(tmp_path):
    check_writable(str(tmp_path / 'new' / 'dir' / 'm.tmask'), '--out')
    assert os.listdir(tmp_path / 'new' / 'dir') == []  # probe removed
    blocker = tmp_path / 'a_file'
    blocker.write_text('not a folder')
    # A path under a regular file fails for root too.
    with pytest.raises(ValueError, match=r"--out '.*a_file/m.tmask' cannot be "
                       r'written.*set --out to a file in a folder'):
        check_writable(str(blocker / 'm.tmask'), '--out')
    with pytest.raises(ValueError, match='IsADirectoryError'):
        check_writable(str(tmp_path), 'mask_file')
