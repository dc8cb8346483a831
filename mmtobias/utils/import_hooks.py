# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""Run code right after a module is imported, before its importer gets it.

Used where mmtobias must act between another package's modules: to turn off
mmpretrain's multimodal part before ``mmpretrain.models`` reads the switch
(:mod:`mmtobias.utils.compat`), and to register the detection components as soon as
mmdet's models are imported (:mod:`mmtobias.utils.det_autoimport`).
"""
import importlib.abc
import sys

__all__ = ['when_imported']


class _AfterImport(importlib.abc.MetaPathFinder):
    """A meta path finder that runs callbacks right after named modules execute.

    It finds nothing itself: it asks the finders behind it for the module's spec and
    wraps that spec's loader's ``exec_module``, so a callback sees the module fully
    executed, before the ``import`` statement that asked for it returns.
    """

    def __init__(self):
        self.callbacks = {}  # module name -> [callback(module)]
        self._busy = set()  # names being looked up by the other finders (no recursion)

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in self.callbacks or fullname in self._busy:
            return None
        self._busy.add(fullname)
        try:
            spec = next((s for s in (
                f.find_spec(fullname, path, target) for f in sys.meta_path
                if f is not self and hasattr(f, 'find_spec')) if s is not None), None)
        finally:
            self._busy.discard(fullname)
        if spec is None or not hasattr(spec.loader, 'exec_module'):
            return spec
        exec_module = spec.loader.exec_module

        def exec_then_call_back(module):
            exec_module(module)
            for callback in self.callbacks.pop(fullname, []):
                callback(module)

        spec.loader.exec_module = exec_then_call_back  # this spec's loader instance only
        return spec


_AFTER_IMPORT = _AfterImport()


def when_imported(name, callback):
    """Call ``callback(module)`` now if module ``name`` is imported, else right after
    it is (once). A callback already waiting for ``name`` is not added twice."""
    if name in sys.modules:
        callback(sys.modules[name])
        return
    if _AFTER_IMPORT not in sys.meta_path:
        sys.meta_path.insert(0, _AFTER_IMPORT)
    waiting = _AFTER_IMPORT.callbacks.setdefault(name, [])
    if callback not in waiting:
        waiting.append(callback)
