# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""Closing the default process group at the end of a successful run.

A process that exits with its process group still alive leaves the teardown to the
interpreter's finalisation. On gloo (every CPU run, and the multi-process tests), the
backend's worker threads can then still hold finished work that owns tensors; freeing
them while the interpreter is torn down aborts the process with ``terminate called
without an active exception`` (SIGABRT) after the run itself succeeded. It is rare and
depends on timing: seen once in CI, on the last line of a 2-process ``tools/train.py``
that had trained and saved its checkpoint (torch 2.14, gloo). Upstream:
pytorch/pytorch#190489 (open: missing ``destroy_process_group`` gives exactly this
message) and pytorch/pytorch#179291 (an ``atexit`` destroy in ``init_process_group``,
abandoned), so every torch version is concerned. PyTorch's documentation asks every
trainer process to call ``destroy_process_group()`` near the end of ``main()``;
MMEngine's Runner does not.

The tools that take ``--launcher`` call :func:`close_process_group` in their
``__main__`` block, after ``main()`` returned. It is not called when ``main()`` raised,
as torchtitan does (pytorch/torchtitan#1342): a rank that failed must not wait in a
barrier for ranks that may never reach it. Tests: ``tests/test_utils/test_process_group.py``.
"""
import torch.distributed as dist


def close_process_group():
    """Wait for every rank, then destroy the default process group.

    A no-op (returning False) when torch has no distributed package or no group was
    initialised, so the tools call it unconditionally.

    Returns:
        bool: whether a process group was destroyed.
    """
    if not (dist.is_available() and dist.is_initialized()):
        return False
    # every rank has finished its last collective before any rank tears down
    dist.barrier()
    dist.destroy_process_group()
    return True
