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
import importlib.abc
import logging
import sys

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


class _AfterMmdetImport(importlib.abc.MetaPathFinder):
    """Import :mod:`mmtobias.det` right after a trigger package has executed."""

    def __init__(self):
        self._busy = set()  # names being looked up by the other finders (no recursion)

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in TRIGGERS or fullname in self._busy or \
                'mmtobias.det' in sys.modules:
            return None
        self._busy.add(fullname)
        try:  # the spec the other finders give
            spec = next((s for s in (
                f.find_spec(fullname, path, target) for f in sys.meta_path
                if f is not self and hasattr(f, 'find_spec')) if s is not None), None)
        finally:
            self._busy.discard(fullname)
        if spec is None or not hasattr(spec.loader, 'exec_module'):
            return spec
        exec_module = spec.loader.exec_module

        def exec_then_register(module):
            exec_module(module)
            _import_det()

        spec.loader.exec_module = exec_then_register  # this spec's loader instance only
        return spec


def register_det_when_mmdet_is_used():
    """Import :mod:`mmtobias.det` now if mmdet's models or evaluation package is
    imported, else as soon as one of them is. Idempotent."""
    if any(name in sys.modules for name in TRIGGERS):
        _import_det()
    elif not any(isinstance(f, _AfterMmdetImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _AfterMmdetImport())
