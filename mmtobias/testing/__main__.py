# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""``python -m mmtobias.testing SCRIPT [ARGS ...]``: run SCRIPT under NCCL's rules.

For multi-process tests on gloo: ``python -m torch.distributed.run --nproc_per_node 2
-m mmtobias.testing tools/train.py CONFIG --launcher pytorch``.
"""
import sys

from mmtobias.testing.distributed import run_script_under_nccl_rules

if __name__ == '__main__':
    run_script_under_nccl_rules(sys.argv[1:])
