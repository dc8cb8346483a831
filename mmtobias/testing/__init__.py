# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""Helpers for mmtobias' tests and examples, one module per job.

- :mod:`.data`: fixture data (generated image folders, with or without boxes).
- :mod:`.configs`: the one config shrinker and the one walk over a nested config.
- :mod:`.runs`: running the tools in-process (a script as a module, a first step).
- :mod:`.distributed`: NCCL's rules on gloo for multi-process tests, a free port;
  ``python -m mmtobias.testing SCRIPT ARGS`` runs a script under the rules.
"""
from .configs import _walk_dicts  # noqa: F401  (walk_dicts' name before the split)
from .configs import (DET_R18_OPTIONS, DET_SMALL_OPTIONS, shrink_config, tiny_pretrain_config,
                      walk_dicts)
from .data import make_box_folder, make_image_folder
from .distributed import (NCCLRuleError, check_nccl_tensor, free_port, install_nccl_rules,
                          nccl_rules, run_script_under_nccl_rules, uninstall_nccl_rules)
from .runs import first_step_state, load_script

__all__ = [
    'DET_R18_OPTIONS', 'DET_SMALL_OPTIONS', 'NCCLRuleError', 'check_nccl_tensor',
    'first_step_state', 'free_port', 'install_nccl_rules', 'load_script',
    'make_box_folder', 'make_image_folder', 'nccl_rules', 'run_script_under_nccl_rules',
    'shrink_config', 'tiny_pretrain_config', 'uninstall_nccl_rules', 'walk_dicts'
]
