# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""The tools close their process group after a successful run (mmtobias.utils.process_group).

Without it, a 2-process gloo run that had trained and saved could still abort at exit
(``terminate called without an active exception``, pytorch/pytorch#190489). The abort
is timing-dependent, so these tests check the mechanism: the helper closes a real group,
in one process and across 2 ranks under NCCL's rules, and every tool that takes
``--launcher`` calls it after ``main()`` returned (and only then).
"""
import ast
import glob
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch.distributed as dist

from mmtobias.utils import close_process_group

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

TWO_RANKS = """
import torch
import torch.distributed as dist
from mmtobias.utils import close_process_group
dist.init_process_group('gloo')
x = torch.ones(4) * (dist.get_rank() + 1)
dist.all_reduce(x)
closed = close_process_group()
print(f'rank closed={closed} initialized={dist.is_initialized()} sum={x[0].item():g}')
"""


def test_without_a_group_it_does_nothing():
    assert not dist.is_initialized()
    assert close_process_group() is False


def test_it_destroys_the_default_group(master_port):
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{master_port}',
                            rank=0, world_size=1)
    try:
        assert close_process_group() is True
        assert not dist.is_initialized()
        assert close_process_group() is False  # a second call is harmless
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


@pytest.mark.slow
def test_two_ranks_close_under_nccl_rules(tmp_path, master_port):
    script = tmp_path / 'two_ranks.py'
    script.write_text(TWO_RANKS)
    result = subprocess.run(
        [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2',
         '--master_port', str(master_port), '-m', 'mmtobias.testing', str(script)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
        env=dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS='1'))
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-4000:]
    assert out.count('rank closed=True initialized=False sum=3') == 2, out[-4000:]


def _main_block(tree):
    for node in tree.body:
        if (isinstance(node, ast.If) and isinstance(node.test, ast.Compare)
                and isinstance(node.test.left, ast.Name)
                and node.test.left.id == '__name__'):
            return node.body
    return None


def _called_names(statements):
    """The names called by each statement, in order (``f()``, ``x = f()``, ``g(f())``)."""
    names = []
    for statement in statements:
        names.append({
            node.func.id for node in ast.walk(statement)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
        })
    return names


def launcher_tools():
    tools = []
    for path in sorted(glob.glob(osp.join(REPO, 'tools', '*.py'))):
        with open(path) as f:
            source = f.read()
        if "'--launcher'" in source:
            tools.append(path)
    return tools


def test_the_launcher_tools_are_found():
    names = {osp.basename(p) for p in launcher_tools()}
    assert {'train.py', 'test.py', 'det_train.py', 'generate_masks.py'} <= names


@pytest.mark.parametrize('path', launcher_tools(), ids=osp.basename)
def test_every_launcher_tool_closes_its_group_after_main(path):
    with open(path) as f:
        block = _main_block(ast.parse(f.read()))
    assert block is not None, f'{path}: no __main__ block'
    calls = _called_names(block)
    main_at = [i for i, names in enumerate(calls) if 'main' in names]
    close_at = [i for i, names in enumerate(calls) if 'close_process_group' in names]
    assert main_at and close_at, (
        f'{path}: its __main__ block must call main() and then close_process_group() '
        '(mmtobias.utils.process_group says why)')
    # after main() returned: a failed rank must not wait in the barrier
    assert close_at[0] > main_at[0], path
    assert not any('main' in calls[i] for i in close_at), path
