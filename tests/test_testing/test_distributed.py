# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""mmtobias.testing.distributed: NCCL's rules as a context, a free port."""
import socket
import subprocess
import sys

import pytest
import torch
import torch.distributed as dist

from mmtobias.testing import NCCLRuleError, free_port, nccl_rules


def test_free_port_can_be_bound():
    port = free_port()
    with socket.socket() as s:
        s.bind(('127.0.0.1', port))


def test_nccl_rules_refuse_a_view_inside_the_block_only():
    original = dist.all_reduce
    view = torch.zeros(4, 2)[:, 1]
    with nccl_rules():
        assert dist.all_reduce is not original
        # checked before the collective runs: no process group needed
        with pytest.raises(NCCLRuleError, match=r'call \.contiguous\(\)'):
            dist.all_reduce(view)
    assert dist.all_reduce is original


@pytest.mark.slow
def test_module_entry_point_without_a_script_prints_its_usage():
    result = subprocess.run([sys.executable, '-m', 'mmtobias.testing'], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode != 0
    assert 'usage: python -m mmtobias.testing SCRIPT' in result.stderr
