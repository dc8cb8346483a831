# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
import numpy as np
import pytest
import torch

from mmtobias.scda import runtime


@pytest.fixture
def torch_default_threads():
    threads = torch.get_num_threads()
    torch.set_num_threads(64)  # as torch's default on a large machine
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize('cores, expected', [
    (1, (0, 1)), (2, (0, 2)), (4, (1, 3)), (8, (2, 6)), (16, (4, 12)),
    (64, (8, 56))])
def test_cpu_defaults_split_the_cores(monkeypatch, torch_default_threads,
                                      cores, expected):
    monkeypatch.setattr(runtime, 'available_cores', lambda: cores)
    assert runtime.default_workers_threads('cpu') == expected


def test_cpu_threads_never_exceed_the_torch_setting(monkeypatch):
    monkeypatch.setattr(runtime, 'available_cores', lambda: 8)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # e.g. OMP_NUM_THREADS=1
    try:
        assert runtime.default_workers_threads('cpu') == (2, 1)
    finally:
        torch.set_num_threads(threads)


def test_cuda_defaults_decode_on_every_core_but_one(monkeypatch):
    monkeypatch.setattr(runtime, 'available_cores', lambda: 2)
    assert runtime.default_workers_threads('cuda') == (1, None)
    monkeypatch.setattr(runtime, 'available_cores', lambda: 16)
    assert runtime.default_workers_threads(torch.device('cuda')) == (15, None)
    assert runtime.default_workers_threads('cuda', decode='draft') == (15,
                                                                       None)
    # nvjpeg's workers only read files: fewer suffice
    assert runtime.default_workers_threads('cuda', decode='nvjpeg') == (8,
                                                                        None)
    monkeypatch.setattr(runtime, 'available_cores', lambda: 128)
    assert runtime.default_workers_threads('cuda') == (32, None)


def test_resolve_decode_names_the_option():
    assert runtime.resolve_decode('auto', 'cpu') == runtime.AUTO_DECODE
    assert runtime.AUTO_DECODE == 'draft'  # measured >= 99 %; nvjpeg opt-in
    assert runtime.resolve_decode('auto', 'cuda') == runtime.AUTO_DECODE
    assert runtime.resolve_decode('draft', 'cpu') == 'draft'
    assert runtime.resolve_decode('nvjpeg', 'cuda:0') == 'nvjpeg'
    # 'auto' keeps the path of the mask file being updated, where usable
    assert runtime.resolve_decode('auto', 'cpu', 'pil') == 'pil'
    assert runtime.resolve_decode('auto', 'cuda', 'nvjpeg') == 'nvjpeg'
    assert runtime.resolve_decode('auto', 'cpu', 'nvjpeg') == 'draft'
    assert runtime.resolve_decode('draft', 'cpu', 'pil') == 'draft'
    with pytest.raises(ValueError, match="decode='nvjpeg' decodes on a CUDA"
                       ".*device is cpu"):
        runtime.resolve_decode('nvjpeg', 'cpu')
    with pytest.raises(ValueError, match=r"decode='jpeg' is not supported; "
                       r"choose one of \('auto', 'pil', 'draft', 'nvjpeg'\)"):
        runtime.resolve_decode('jpeg', 'cpu')


def test_explicit_values_are_kept(monkeypatch, torch_default_threads):
    monkeypatch.setattr(runtime, 'available_cores', lambda: 2)
    assert runtime.default_workers_threads('cpu', 3) == (3, 1)
    assert runtime.default_workers_threads('cpu', 0, 5) == (0, 5)
    assert runtime.default_workers_threads('cuda', 0, 2) == (0, 2)


def test_available_cores_uses_affinity_and_local_world_size(monkeypatch):
    monkeypatch.setattr(runtime.os, 'sched_getaffinity', lambda pid: {0, 1, 2,
                                                                      3, 4, 5},
                        raising=False)
    monkeypatch.delenv('LOCAL_WORLD_SIZE', raising=False)
    assert runtime.available_cores() == 6
    monkeypatch.setenv('LOCAL_WORLD_SIZE', '4')
    assert runtime.available_cores() == 1  # 6 cores shared by 4 processes
    monkeypatch.delattr(runtime.os, 'sched_getaffinity', raising=False)
    monkeypatch.setattr(runtime.os, 'cpu_count', lambda: 16)
    assert runtime.available_cores() == 4


def test_torch_threads_restores_the_setting():
    before = torch.get_num_threads()
    with runtime.torch_threads(before + 1):
        assert torch.get_num_threads() == before + 1
    assert torch.get_num_threads() == before
    with runtime.torch_threads(None):
        assert torch.get_num_threads() == before


def test_collectives_without_torch_distributed_are_identity():
    obj = dict(todo=[1, 2], name='x')
    assert runtime.broadcast_json(obj) == obj
    rows = np.arange(6, dtype=np.float32).reshape(3, 2)
    (out, ) = runtime.all_gather_rows(rows)
    np.testing.assert_array_equal(out, rows)
