# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""mmpretrain and mmselfsup imported together (``ResLayerExtraNorm`` registered twice).

What breaks: mmpretrain and mmselfsup each copy ``ResLayerExtraNorm`` into mmdet's
MODELS registry, so importing both models packages (mmselfsup configs, or mmselfsup
and mmpretrain tools in one process) fails with MMEngine's ``KeyError:
'ResLayerExtraNorm is already registered in model at ...'``. Both also import mmdet at
import time only to register that component, which imports mmcv's compiled ops that
pretraining does not need.

Versions: mmselfsup 1.0.0 (its last release) beside mmpretrain 1.x (1.2.0, its last
release, included) and mmdet 3.x.

The fix: the second registration of that component (same class name, a module of
another of the families mmselfsup / mmpretrain / mmcls) into the registry 'model' of
scope 'mmdet' is skipped, the first is kept; nothing else is affected. The two
``res_layer_extra_norm`` modules run as if mmdet were absent (their own fallback,
``ResLayerExtraNorm = None``) while mmdet's models are not imported, and run again
right after ``mmdet.models`` is imported, which registers the component before mmdet's
first build.

Detected / tested: applies whenever imported (a no-op without mmselfsup).
``tests/test_utils/test_compat.py::test_mmselfsup_and_mmpretrain_import_together``
shows the import failing without mmtobias and working with it.
"""
import functools
import importlib
import importlib.abc
import sys

from ._applied import apply_once

__all__ = ['tolerate_mmselfsup_double_registration']


@apply_once
def tolerate_mmselfsup_double_registration():
    """Keep the first ``ResLayerExtraNorm`` in mmdet's MODELS; defer the copies."""
    # Two fixes for the ResLayerExtraNorm that mmpretrain and mmselfsup each copy into
    # mmdet's MODELS, neither of which imports mmdet here (it imports mmcv's compiled
    # ops, which pretraining does not need):
    # 1. the second registration of that component is skipped (patched on mmengine's
    #    Registry class, limited to the registry 'model' of scope 'mmdet');
    # 2. the two modules import mmdet at import time only to register it: while
    #    mmdet's models are not imported, they run as if mmdet were absent (their own
    #    fallback, ResLayerExtraNorm = None), and run again right after mmdet.models
    #    has been imported, which registers the component before mmdet's first build.
    from mmengine.registry import Registry

    original_register = Registry._register_module
    families = ('mmselfsup.', 'mmpretrain.', 'mmcls.')
    # the components these packages copied from each other into mmdet's registry
    duplicated = {'ResLayerExtraNorm'}

    def family(obj):
        mod = getattr(obj, '__module__', '') or ''
        return next((f for f in families if mod.startswith(f)), None)

    @functools.wraps(original_register)
    def _register_module(self, module, module_name=None, force=False):
        if not force and self.scope == 'mmdet' and self.name == 'model':
            names = [module_name] if isinstance(module_name, str) else (
                module_name or [module.__name__])
            existing = [self._module_dict.get(n) for n in names]
            if set(names) <= duplicated and all(
                    e is not None for e in existing) and family(module) and all(
                    family(e) and family(e) != family(module)
                    and e.__name__ == module.__name__ for e in existing):
                # The same component copied into two OpenMMLab packages: keep the first.
                return
        return original_register(self, module, module_name=module_name, force=force)

    Registry._register_module = _register_module

    copies = ('mmpretrain.models.utils.res_layer_extra_norm',
              'mmselfsup.models.utils.res_layer_extra_norm')
    deferred = []

    class NoMmdet(importlib.abc.MetaPathFinder):

        def find_spec(self, fullname, path=None, target=None):
            if fullname == 'mmdet' or fullname.startswith('mmdet.'):
                raise ModuleNotFoundError(f'{fullname} is imported once mmdet is used',
                                          name=fullname)
            return None

    class DeferResLayerExtraNorm(importlib.abc.MetaPathFinder):
        busy = set()  # names being looked up by the other finders (no recursion)

        def find_spec(self, fullname, path=None, target=None):
            watched = fullname == 'mmdet.models' or (
                fullname in copies and 'mmdet.models' not in sys.modules)
            if not watched or fullname in self.busy:
                return None
            self.busy.add(fullname)
            try:
                spec = next((s for s in (
                    f.find_spec(fullname, path, target) for f in sys.meta_path
                    if f is not self and hasattr(f, 'find_spec')) if s is not None), None)
            finally:
                self.busy.discard(fullname)
            if spec is None or not hasattr(spec.loader, 'exec_module'):
                return spec
            exec_module = spec.loader.exec_module

            def exec_without_mmdet(module):
                blocker = NoMmdet()
                sys.meta_path.insert(0, blocker)
                try:
                    exec_module(module)
                finally:
                    sys.meta_path.remove(blocker)
                deferred.append(fullname)

            def exec_then_register_copies(module):
                exec_module(module)
                while deferred:
                    name = deferred.pop(0)
                    if name in sys.modules:
                        importlib.reload(sys.modules[name])

            spec.loader.exec_module = (exec_then_register_copies if fullname == 'mmdet.models'
                                       else exec_without_mmdet)
            return spec

    sys.meta_path.insert(0, DeferResLayerExtraNorm())
