# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""NCCL's rules on gloo: the checker itself, then every algorithm's 2-process run.

gloo accepts non-contiguous views and per-rank shapes in all_gather; NCCL raises
``Tensors must be contiguous``. These tests run 2 CPU processes with
:func:`mmtobias.testing.install_nccl_rules`, so a collective NCCL would refuse fails
here too.
"""
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
import torch.multiprocessing as mp

from mmtobias.testing import (NCCLRuleError, free_port, install_nccl_rules, make_image_folder,
                              tiny_pretrain_config, uninstall_nccl_rules)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _checker_worker(rank, port, results):
    torch.set_num_threads(1)
    torch.distributed.init_process_group(
        'gloo', init_method=f'tcp://127.0.0.1:{port}', rank=rank, world_size=2)
    install_nccl_rules()
    out = {}
    try:
        x = torch.arange(12.).view(3, 4)
        gathered = [torch.empty(3, 4) for _ in range(2)]
        torch.distributed.all_gather(gathered, x)  # dense and contiguous: fine
        out['ok'] = bool(torch.equal(gathered[1], x))
        cases = dict(
            view=lambda: torch.distributed.all_gather(
                [torch.empty(4, 3) for _ in range(2)], x.t()),
            slice=lambda: torch.distributed.all_reduce(x[:, 1]),
            shapes=lambda: torch.distributed.all_gather(
                [torch.empty(rank + 1) for _ in range(2)], torch.ones(rank + 1)),
            sparse=lambda: torch.distributed.broadcast(x.to_sparse(), src=0),
        )
        for name, call in cases.items():
            try:
                call()
                out[name] = 'passed'
            except NCCLRuleError as err:
                out[name] = str(err)
    finally:
        uninstall_nccl_rules()
        torch.distributed.destroy_process_group()
    results[rank] = out


@pytest.mark.slow
def test_checker_refuses_what_nccl_refuses():
    with mp.Manager() as manager:
        results = manager.dict()
        mp.spawn(_checker_worker, args=(free_port(), results), nprocs=2, join=True)
        results = dict(results)
    for rank in (0, 1):
        out = results[rank]
        assert out['ok']
        assert 'must be contiguous' in out['view'] and 'all_gather' in out['view']
        assert 'must be contiguous' in out['slice'] and 'stride (4,)' in out['slice']
        assert 'same shape and dtype on every rank' in out['shapes']
        assert '[[1], [2]]' in out['shapes']
        assert 'dense tensors only' in out['sparse']


# ---------------------------------------------------------------------------
# 2 processes of every algorithm through tools/train.py, under NCCL's rules
# ---------------------------------------------------------------------------

# every algorithm with a collective of its own: MoCo's key gather and batch shuffle,
# SimCLR's all_gather of embeddings, InsLoc's box gather (C4 and FPN)
ALGORITHMS = dict(
    mocov2_tobias='mocov2_tobias_r50.py',
    simclr_tobias='simclr_tobias_r50.py',
    insloc_c4='insloc_r50-c4.py',
    insloc_fpn='insloc_r50-fpn.py',
)


def run_two_processes_under_nccl_rules(config, work_dir, timeout=600):
    """``torchrun --nproc_per_node 2 -m mmtobias.testing tools/train.py CONFIG``."""
    env = dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS='1')
    cmd = [
        sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2',
        '--master_port', str(free_port()), '-m', 'mmtobias.testing',
        osp.join(REPO, 'tools', 'train.py'), config, '--launcher', 'pytorch',
        '--work-dir', work_dir
    ]
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.is_available(), reason='runs the CPU (gloo) processes')
@pytest.mark.parametrize('name', list(ALGORITHMS))
def test_two_processes_obey_nccl_rules(name, tmp_path):
    data = str(tmp_path / 'images')
    make_image_folder(data, num_images=8, size=(64, 56))
    config = tiny_pretrain_config(
        osp.join(REPO, 'configs', ALGORITHMS[name]), str(tmp_path / f'{name}.py'), data,
        str(tmp_path / 'masks.tmask'))
    work_dir = str(tmp_path / 'work')
    result = run_two_processes_under_nccl_rules(config, work_dir)
    log = result.stdout + result.stderr
    assert 'NCCLRuleError' not in log, log[-4000:]
    assert result.returncode == 0, log[-4000:]
    assert osp.isfile(osp.join(work_dir, 'epoch_1.pth'))
    assert 'Distributed launcher: pytorch' in log
