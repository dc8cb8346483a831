# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""Register mmtobias's detection components when mmdet is used, not before.

``import mmtobias`` must not import mmdet: mmdet imports mmcv's compiled ops, which
pretraining does not need. The detection components (:mod:`mmtobias.det`) are
therefore imported either explicitly (detection configs list ``'mmtobias.det'`` in
``custom_imports``), or automatically as soon as mmdet's model or evaluation package
has been imported — which mmdet's registries do before their first build — so an
mmdet project whose config says ``custom_imports=['mmtobias']`` finds them too,
whatever the import order.
"""
import importlib
import logging
import sys

from .import_hooks import when_imported

__all__ = ['register_det_when_mmdet_is_used']

# mmdet packages whose import means detection is in use: the `locations` of mmdet's
# MODELS and METRICS registries, imported by the registries before a lookup
TRIGGERS = ('mmdet.models', 'mmdet.evaluation')


def _import_det():
    if 'mmtobias.det' in sys.modules:
        return
    try:
        importlib.import_module('mmtobias.det')
    except Exception as e:  # never break the user's import of mmdet
        from mmengine.logging import print_log
        print_log(f'mmtobias: the detection components could not be registered '
                  f'({type(e).__name__}: {e}); `import mmtobias.det` shows the error.',
                  logger='current', level=logging.WARNING)


def register_det_when_mmdet_is_used():
    """Import :mod:`mmtobias.det` now if mmdet's models or evaluation package is
    imported, else as soon as one of them is. Idempotent."""
    if any(name in sys.modules for name in TRIGGERS):
        _import_det()
        return
    for name in TRIGGERS:
        when_imported(name, _after_trigger)


def _after_trigger(module):
    _import_det()
