# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""mmtobias: foreground-aware self-supervised pretraining for OpenMMLab.

Importing this package (directly, or through ``custom_imports`` in a config)
applies the compatibility fixes of :mod:`mmtobias.utils.compat` and registers
every mmtobias component into the existing OpenMMLab registries.
"""
from .utils import compat as _compat

_compat.apply_all()

from . import datasets, det, engine, evaluation, models, scda  # noqa: E402,F401
from .utils.registry_mirror import mirror_into_mmselfsup  # noqa: E402
from .version import __version__  # noqa: E402

mirror_into_mmselfsup()

__all__ = ['__version__']
