# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""mmselfsup's registries name a module its wheel does not ship.

What breaks: mmselfsup's registries name ``mmselfsup.engine.runner`` as the place their
loops and runners live, but the wheel does not ship that module; under
``default_scope='mmselfsup'`` (mmselfsup's configs) building any loop then fails with
``ModuleNotFoundError: No module named 'mmselfsup.engine.runner'``.

Versions: mmselfsup 1.0.0 (its last release).

The fix: the locations the installed package lacks are dropped from every mmselfsup
registry, so the lookup falls back to MMEngine's loops, as the registries' parent
intends. Without mmselfsup it does nothing.

Detected / tested: ``importlib.util.find_spec`` of every location.
``tests/test_utils/test_compat.py::test_mmselfsup_scope_builds_loops`` shows the
declared location missing from the wheel and a loop built under mmselfsup's scope.
"""
import importlib.util

from ._applied import apply_once

__all__ = ['fix_mmselfsup_registry_locations']


@apply_once
def fix_mmselfsup_registry_locations():
    """Drop the registry locations the installed mmselfsup lacks."""
    if importlib.util.find_spec('mmselfsup') is None:
        return
    from mmengine.registry import Registry

    import mmselfsup.registry as registries
    for registry in vars(registries).values():
        if not isinstance(registry, Registry) or registry.scope != 'mmselfsup':
            continue
        # keep the locations the installed wheel has (find_spec of a missing
        # submodule returns None; of a missing parent it raises)
        present = []
        for location in registry._locations:
            try:
                found = importlib.util.find_spec(location) is not None
            except ModuleNotFoundError:
                found = False
            if found:
                present.append(location)
        registry._locations = present
