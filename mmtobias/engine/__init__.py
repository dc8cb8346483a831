# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
from . import hooks  # noqa: F401  (registers into mmpretrain's HOOKS)
from .optimizers import AutocastOptimWrapper

__all__ = ['AutocastOptimWrapper']
