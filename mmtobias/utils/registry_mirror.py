# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""Make mmtobias components reachable from mmselfsup configs too.

mmtobias registers into mmpretrain's registries (and mmdet's for detection parts). A
config whose ``default_scope`` is ``'mmselfsup'`` looks names up in mmselfsup's own
registries, so every mmtobias component is also registered there, under the same name,
when mmselfsup is installed.
"""
import importlib.util

# registry name in mmpretrain -> name in mmselfsup
_MIRRORED = ('TRANSFORMS', 'MODELS', 'HOOKS', 'METRICS', 'DATASETS')


def mirror_into_mmselfsup(prefix='mmtobias'):
    """Register every ``prefix.*`` class of mmpretrain's registries into mmselfsup's.

    Returns:
        int: how many components were mirrored (0 when mmselfsup is not installed).
    """
    if importlib.util.find_spec('mmselfsup') is None:
        return 0
    import mmpretrain.registry as src
    import mmselfsup.registry as dst

    count = 0
    for name in _MIRRORED:
        source, target = getattr(src, name), getattr(dst, name, None)
        if target is None:
            continue
        for key, cls in list(source.module_dict.items()):
            if getattr(cls, '__module__', '').startswith(prefix + '.') and \
                    key not in target.module_dict:
                target.register_module(name=key, module=cls)
                count += 1
    return count
