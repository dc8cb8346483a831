# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""mmtobias: foreground-aware self-supervised pretraining for OpenMMLab.

Importing this package (directly, or through ``custom_imports`` in a config)
applies the compatibility fixes of :mod:`mmtobias.utils.compat` and registers
the pretraining, mask and localization components into mmpretrain's registries
(mirrored into mmselfsup's). It imports neither mmdet nor mmcv's compiled ops,
so pretraining works with an mmcv built without ops.

The detection-transfer components (:mod:`mmtobias.det`) are registered into
mmdet's registries by ``import mmtobias.det``; detection configs list it::

    custom_imports = dict(imports=['mmtobias', 'mmtobias.det'], allow_failed_imports=False)

An mmdet project whose config says ``custom_imports=['mmtobias']`` finds them
too: ``import mmtobias`` imports :mod:`mmtobias.det` when mmdet's models are
already imported, or right after they are (mmdet's registries import them before
their first build); see :mod:`mmtobias.utils.det_autoimport`.
"""
from .utils import compat as _compat

_compat.apply_all()

from . import datasets, engine, evaluation, models, scda  # noqa: E402,F401
from .utils.det_autoimport import register_det_when_mmdet_is_used  # noqa: E402
from .utils.registry_mirror import mirror_into_mmselfsup  # noqa: E402
from .version import __version__  # noqa: E402

mirror_into_mmselfsup()

# mmtobias.det now if mmdet's models are imported, else as soon as they are
register_det_when_mmdet_is_used()

__all__ = ['__version__']
