# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""mmpretrain's multimodal models under transformers >= 4.52 (5.x included).

What breaks: mmpretrain imports its multimodal models (BLIP, CLIP, LLaVA, ...) whenever
transformers >= 4.28 and pycocotools are installed. They import names from
``transformers.modeling_utils`` that transformers stopped providing there:
``GenerationMixin`` (OFA) in 4.52, ``apply_chunking_to_forward`` & co. (BLIP, whose
fallback then fails with ``TypeError: NoneType takes no arguments``) in 4.56, so
``import mmpretrain.models`` fails, and every mmtobias config with it.

Versions: mmpretrain <= 1.2.0 (its last release) with transformers >= 4.52, 5.x
included (bisected: 4.51.3 imports, 4.52.0 does not).

The fix: with those versions installed, mmpretrain's own switch
(``mmpretrain.utils.dependency.WITH_MULTIMODAL``) is turned off as soon as that module
is imported, before ``mmpretrain.models`` is, with one warning; a config that builds
one of those models gets an ImportError naming the reason. mmtobias uses none of them.
:func:`mmpretrain_multimodal_status` reports the state (``tools/collect_env.py``).

Detected / tested: :func:`mmpretrain_multimodal_blocker` compares the installed
distributions' versions (nothing imported). ``tests/test_utils/test_environments.py``
runs ``import mmtobias``, ``tools/train.py`` and ``tools/collect_env.py`` with the real
transformers 5, the last 4.x and 4.51, and checks the version gate.
"""
import functools
import importlib.metadata
import importlib.util
import re
import sys
import warnings

from ..import_hooks import when_imported
from ._applied import apply_once

__all__ = ['mmpretrain_multimodal_blocker', 'mmpretrain_multimodal_status',
           'turn_off_broken_mmpretrain_multimodal']

# The last mmpretrain release, whose multimodal code needs transformers < 4.52 (4.51.3
# imports, 4.52.0 does not: GenerationMixin left transformers.modeling_utils).
_MMPRETRAIN_LAST_CHECKED = (1, 2, 0)
_FIRST_BREAKING_TRANSFORMERS = (4, 52)
_MULTIMODAL_MODELS = ('BLIP, BLIP-2, CLIP, Chinese-CLIP, Flamingo, LLaVA, MiniGPT-4, OFA, '
                      'Otter, RAM')
_MULTIMODAL_OFF = {}  # 'why': the reason, once the switch was turned off here


def _installed_version(dist):
    """The installed distribution's version string (no import), or None."""
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _release(version):
    """'5.17.0' -> (5, 17, 0); '4.57.1.dev0' -> (4, 57, 1); unparsable parts stop it."""
    numbers = []
    for part in version.split('.'):
        match = re.match(r'\d+', part)
        if match is None:
            break
        numbers.append(int(match.group()))
    return tuple(numbers)


def mmpretrain_multimodal_blocker():
    """Why mmpretrain's multimodal part cannot import in this environment, or None.

    It cannot where mmpretrain <= 1.2.0 and transformers >= 4.52 (5.x included) are
    installed. The versions are read from the installed distributions; nothing is
    imported.
    """
    transformers = _installed_version('transformers')
    mmpretrain = _installed_version('mmpretrain')
    if transformers is None or mmpretrain is None:
        return None
    if (_release(mmpretrain) > _MMPRETRAIN_LAST_CHECKED
            or _release(transformers) < _FIRST_BREAKING_TRANSFORMERS):
        return None
    return (f'transformers {transformers} is installed, and the multimodal models of '
            f'mmpretrain {mmpretrain} do not import under transformers >= 4.52 '
            '(they import names that transformers.modeling_utils no longer has: '
            'GenerationMixin in ofa_modules.py; from 4.56 also apply_chunking_to_forward '
            '& co. in blip/language_model.py, which fails with TypeError: NoneType takes '
            'no arguments)')


def mmpretrain_multimodal_status():
    """Whether mmpretrain's multimodal part is on here, as ``(on, why)``.

    ``on`` is None when mmpretrain is not installed. Read from mmpretrain's own switch
    when it has been imported, else predicted from the installed versions.
    """
    dependency = sys.modules.get('mmpretrain.utils.dependency')
    if _installed_version('mmpretrain') is None and dependency is None:
        return None, 'mmpretrain is not installed'
    if 'why' in _MULTIMODAL_OFF:
        return False, 'turned off by mmtobias: ' + _MULTIMODAL_OFF['why']
    blocker = mmpretrain_multimodal_blocker()
    if dependency is not None:
        on = bool(dependency.WITH_MULTIMODAL)
    else:
        on = (importlib.util.find_spec('pycocotools') is not None
              and _release(_installed_version('transformers') or '0') >= (4, 28))
        if on and blocker is not None:  # `import mmtobias` would turn it off
            return False, 'off once mmtobias is imported: ' + blocker
    if on:
        return True, 'transformers >= 4.28 and pycocotools are installed'
    return False, 'needs transformers >= 4.28 (< 4.52) and pycocotools'


def _register_turned_off(names, registry, why):
    """mmpretrain's placeholders for the multimodal models, with the real reason."""
    for name in names:

        def turned_off(*args, _name=name, **kwargs):
            raise ImportError(
                f"{_name} is one of mmpretrain's multimodal models, which mmtobias turned "
                f"off: {why}. To use it, install 'transformers>=4.28,<4.52'.")

        registry.register_module(name=name, module=turned_off, force=True)


@apply_once
def turn_off_broken_mmpretrain_multimodal():
    """Turn mmpretrain's multimodal switch off where its models cannot import."""
    why = mmpretrain_multimodal_blocker()
    if why is None:
        return

    def turn_off(dependency):
        if not dependency.WITH_MULTIMODAL:  # off already (no pycocotools)
            return
        dependency.WITH_MULTIMODAL = False
        dependency.register_multimodal_placeholder = functools.partial(
            _register_turned_off, why=why)
        _MULTIMODAL_OFF['why'] = why
        warnings.warn(
            f"mmtobias turned off mmpretrain's multimodal models ({_MULTIMODAL_MODELS}) "
            f'and datasets: {why}. mmtobias uses none of them; a config that builds one '
            "gets an ImportError naming it. To use them, install 'transformers>=4.28,<4.52'.",
            stacklevel=2)

    if 'mmpretrain.models' in sys.modules and 'mmpretrain.utils.dependency' in sys.modules:
        return  # imported before mmtobias and did not fail: nothing left to turn off
    when_imported('mmpretrain.utils.dependency', turn_off)
