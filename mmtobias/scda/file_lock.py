# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""One writer per mask file: a lock file beside it, and a write probe.

The lock is ``OUT.lock``, created with ``O_CREAT | O_EXCL`` (atomic on local
file systems and NFS) and holding who took it: pid, host, start time and a
random token. It is removed on release, also when the work fails. A lock left
by a process that died is taken over when that can be proven, i.e. on the
same host, boot and pid namespace (a pid is only meaningful there); a lock
held from elsewhere is waited for until ``timeout``, then the error names its
holder.
"""
import json
import logging
import os
import os.path as osp
import socket
import tempfile
import time
import uuid
from typing import Optional

from mmengine.logging import print_log

__all__ = ['MaskFileLock', 'check_writable']


def check_writable(path: str, option: str) -> None:
    """Create the folder of ``path`` and write and remove a probe file there.

    Args:
        path (str): The file about to be written.
        option (str): Where the user sets ``path`` (``'--out'``, the hook's
            ``mask_file`` ...), named in the error.

    Raises:
        ValueError: The location cannot be written, naming ``option``.
    """
    folder = osp.dirname(osp.abspath(path))
    try:
        if osp.isdir(path):
            raise IsADirectoryError(f'{path} is a directory')
        os.makedirs(folder, exist_ok=True)
        fd, probe = tempfile.mkstemp(
            dir=folder, prefix=osp.basename(path) + '.', suffix='.probe')
        try:
            os.write(fd, b'probe')
        finally:
            os.close(fd)
            os.remove(probe)
    except OSError as e:
        raise ValueError(
            f'{option} {path!r} cannot be written ({type(e).__name__}: {e}); '
            f'set {option} to a file in a folder this process can create '
            f'and write.') from e


def _read(path: str) -> Optional[str]:
    try:
        with open(path, encoding='utf-8') as f:
            return f.read()
    except (FileNotFoundError, NotADirectoryError):
        return None


def _first_line(path: str) -> Optional[str]:
    text = _read(path)
    return text.strip() if text else None


def _process_start(pid: int) -> Optional[str]:
    """Start time of ``pid`` in clock ticks since boot (Linux), so that a
    reused pid is not taken for the process that wrote the lock."""
    text = _read(f'/proc/{pid}/stat')
    if not text:
        return None
    return text[text.rfind(')') + 2:].split()[19]  # field 22 of proc(5)


def _pid_namespace() -> Optional[str]:
    try:
        return os.readlink('/proc/self/ns/pid')
    except OSError:
        return None


def _identity() -> dict:
    pid = os.getpid()
    return dict(pid=pid, host=socket.gethostname(),
                boot=_first_line('/proc/sys/kernel/random/boot_id'),
                pidns=_pid_namespace(), proc_start=_process_start(pid),
                started=time.strftime('%Y-%m-%d %H:%M:%S %z'))


class MaskFileLock:
    """Exclusive lock of a mask file, held by the process that writes it.

    Args:
        path (str): The lock file (``OUT.lock``).
        timeout (float, optional): Seconds to wait for another holder before
            :meth:`try_acquire` raises ``TimeoutError``. None waits for ever.
            Defaults to 3600.
        logger: Logger or logger name for the waiting / take-over messages.
            Defaults to 'current'.
    """

    # An unreadable lock file older than this is the remains of a crash
    # between creating and filling it.
    EMPTY_LOCK_AGE = 30.0

    def __init__(self, path: str, timeout: Optional[float] = 3600.0,
                 logger='current'):
        self.path = osp.abspath(path)
        self.timeout = timeout
        self.logger = logger
        self.token = uuid.uuid4().hex
        self.held = False
        self._wait_start = None
        self._last_note = None

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(path={self.path!r}, '
                f'timeout={self.timeout!r}, held={self.held})')

    # -- holder -----------------------------------------------------------
    def holder(self) -> Optional[dict]:
        """Who holds the lock: its recorded identity, ``{}`` when the file
        cannot be parsed, None when there is no lock file."""
        text = _read(self.path)
        if text is None:
            return None
        try:
            info = json.loads(text)
        except ValueError:
            return {}
        return info if isinstance(info, dict) else {}

    def held_by(self, token: str) -> bool:
        """Whether the lock file holds ``token`` (shard writers check that
        they write for the run that holds the lock)."""
        return (self.holder() or {}).get('token') == token

    @staticmethod
    def describe(info: Optional[dict]) -> str:
        if not info:
            return 'an unknown process (unreadable lock file)'
        return (f"pid {info.get('pid')} on host {info.get('host')} "
                f"(since {info.get('started')})")

    def _is_stale(self, info: dict) -> bool:
        if not info:
            try:
                age = time.time() - os.stat(self.path).st_mtime
            except OSError:
                return False
            return age > self.EMPTY_LOCK_AGE
        me = _identity()
        if info.get('host') != me['host']:
            return False  # cannot look at another machine's processes
        if info.get('boot') and me['boot'] and info['boot'] != me['boot']:
            return True  # the machine rebooted since
        if info.get('pidns') != me['pidns']:
            return False  # another container: its pids are not ours
        pid = info.get('pid')
        if not isinstance(pid, int):
            return False
        if osp.isdir('/proc/self'):
            start = _process_start(pid)
            return start is None or (info.get('proc_start') is not None
                                     and start != info['proc_start'])
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except OSError:
            return False
        return False

    # -- acquire / release -----------------------------------------------
    def _create(self) -> bool:
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY,
                         0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, 'w', encoding='utf-8') as f:
            json.dump(dict(_identity(), token=self.token), f)
            f.flush()
            os.fsync(f.fileno())
        return True

    def _take_over(self, seen: Optional[str]) -> None:
        """Remove the stale lock whose text was ``seen``, unless another
        process replaced it meanwhile (then it is put back)."""
        aside = f'{self.path}.{self.token}.stale'
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return
        try:
            if _read(aside) != seen:
                try:
                    os.link(aside, self.path)
                except OSError:
                    pass
        finally:
            os.remove(aside)

    def try_acquire(self) -> bool:
        """Take the lock if it is free or stale; False while another process
        holds it (the first time, and every 5 minutes, a message names it).

        Raises:
            TimeoutError: Waited longer than ``timeout``.
        """
        if self.held:
            return True
        os.makedirs(osp.dirname(self.path), exist_ok=True)
        if self._create():
            self.held = True
            return True
        seen = _read(self.path)
        info = self.holder()
        if info is not None and self._is_stale(info):
            print_log(f'Tobias masks: taking over the stale lock {self.path} '
                      f'of {self.describe(info)}, which no longer runs.',
                      logger=self.logger, level=logging.WARNING)
            self._take_over(seen)
            if self._create():
                self.held = True
                return True
        now = time.monotonic()
        if self._wait_start is None:
            self._wait_start = now
        waited = now - self._wait_start
        if self.timeout is not None and waited > self.timeout:
            raise TimeoutError(
                f'{self.path} is held by {self.describe(info)}, which is '
                f'writing the same mask file; waited {waited:.0f} s. Wait '
                f'for it to finish and run again, raise lock_timeout '
                f'(--lock-timeout), or delete {self.path} if that process '
                f'no longer runs.')
        if self._last_note is None or now - self._last_note >= 300:
            self._last_note = now
            limit = ('' if self.timeout is None else
                     f' (up to {self.timeout:.0f} s)')
            print_log(f'Tobias masks: waiting for {self.describe(info)}, '
                      f'which holds {self.path} (it is writing the same mask '
                      f'file){limit}.', logger=self.logger)
        return False

    def acquire(self, poll: float = 1.0) -> 'MaskFileLock':
        """Block until the lock is held (or ``timeout`` raises)."""
        while not self.try_acquire():
            time.sleep(poll)
        return self

    def release(self) -> None:
        """Remove the lock file if it is still this process's."""
        if self.held and self.held_by(self.token):
            try:
                os.remove(self.path)
            except FileNotFoundError:
                pass
        self.held = False
        self._wait_start = self._last_note = None

    def __enter__(self) -> 'MaskFileLock':
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
