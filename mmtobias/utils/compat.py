# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""Compatibility fixes for the OpenMMLab 2.x stack on a current toolchain.

Applied once by ``import mmtobias`` (so also through ``custom_imports`` in a config);
nobody has to set an environment variable. Each fix is a small, named function that is
safe to call twice and only changes behaviour in the situation it is written for:

- :func:`allow_mmengine_checkpoints`: torch >= 2.6 loads with ``weights_only=True`` by
  default, which rejects MMEngine Runner checkpoints (message hub history buffers and
  the numpy scalars/arrays they hold). The exact classes are allow-listed with
  ``torch.serialization.add_safe_globals``; ``weights_only`` stays on.
- :func:`enable_cpu_distributed`: MMEngine's pytorch launcher calls
  ``torch.cuda.set_device`` and asks for NCCL, and the Runner wraps the model in DDP
  with ``device_ids=[rank]``. On a machine without CUDA, the process group falls back
  to gloo, no device is set, DDP gets ``device_ids=None``, and SyncBN layers (SimCLR's
  configs) become BN with per-process statistics, since torch's SyncBN needs GPUs.
- :func:`tolerate_mmselfsup_double_registration`: mmselfsup and mmpretrain both
  register the same ``ResLayerExtraNorm`` into mmdet's MODELS; the second one wins no
  argument, the first is kept.
- :func:`fix_collate_fn_scope`: a config that inherits ``mmpretrain::``/``mmdet::``
  bases gets ``_scope_`` written into every dict with a ``type``, including
  ``collate_fn``, which MMEngine then passes to the collate function as a keyword
  (``default_collate() got an unexpected keyword argument '_scope_'``). The key is
  dropped before the dataloader is built. In the same place, ``num_workers=0`` with
  ``persistent_workers=True`` (every pretraining config sets the latter, and
  ``--cfg-options train_dataloader.num_workers=0`` is the usual first step when
  debugging a pipeline) turns persistent workers off with a warning, instead of
  PyTorch's ``ValueError: persistent_workers option needs num_workers > 0``.
- :func:`fix_numpy2_adjust_hue`: under numpy 2, mmcv's ``adjust_hue`` raises
  ``OverflowError`` for a negative hue factor (``np.uint8(-x)``), which kills
  mmpretrain's ColorJitter. The shift is done modulo 256 instead, as numpy 1 did.
- :func:`fix_mmselfsup_registry_locations`: mmselfsup 1.0.0's registries name
  ``mmselfsup.engine.runner`` as the place their loops and runners live, but its wheel
  does not ship that module; under ``default_scope='mmselfsup'`` building any loop then
  fails with ``ModuleNotFoundError: No module named 'mmselfsup.engine.runner'``. The
  locations the installed package lacks are dropped, so the lookup falls back to
  MMEngine's loops as the registry's parent intends.
- :func:`turn_off_broken_mmpretrain_multimodal`: mmpretrain 1.2.0 (its
  last release) imports its multimodal models (BLIP, CLIP, LLaVA, ...) whenever
  transformers >= 4.28 and pycocotools are installed. They import names from
  ``transformers.modeling_utils`` that transformers stopped providing there:
  ``GenerationMixin`` (OFA) in 4.52, ``apply_chunking_to_forward`` & co. (BLIP, whose
  fallback then fails with ``TypeError: NoneType takes no arguments``) in 4.56, so
  ``import mmpretrain.models`` fails under transformers >= 4.52, 5.x included
  (bisected: 4.51.3 imports, 4.52.0 does not). With transformers >= 4.52 the
  multimodal part is turned off
  (mmpretrain's own switch, ``mmpretrain.utils.dependency.WITH_MULTIMODAL``) before
  ``mmpretrain.models`` is imported, with one warning; mmtobias uses none of those
  models.
- :func:`run_amp_optim_wrapper_without_cuda`: MMEngine's ``AmpOptimWrapper`` (fp16 with a
  gradient scaler) asserts a CUDA/NPU/MLU/MUSA device, so stock configs written for GPUs
  (MoCo v3's ``...-amp-...`` configs) stop on a CPU. Without those devices it is built as
  :class:`~mmtobias.engine.optimizers.AutocastOptimWrapper` instead, with one warning:
  bf16 autocast where the CPU computes bf16 natively, float32 elsewhere.
"""
import builtins
import functools
import importlib.metadata
import logging
import re
import sys
import warnings

import numpy as np
import torch

from .import_hooks import when_imported

_APPLIED = set()
_ORIGINAL_ADJUST_HUE = None  # mmcv's own adjust_hue, kept for tests


def _once(fn):
    """Run ``fn`` at most once per process; return True when it ran."""

    @functools.wraps(fn)
    def wrapper():
        if fn.__name__ in _APPLIED:
            return False
        fn()
        _APPLIED.add(fn.__name__)
        return True

    return wrapper


def mmengine_checkpoint_safe_globals():
    """The objects an MMEngine Runner checkpoint pickles besides tensors."""
    from mmengine.logging.history_buffer import HistoryBuffer

    safe = [HistoryBuffer, np.dtype, np.ndarray, builtins.getattr]
    try:  # numpy >= 2
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:  # numpy 1.x
        from numpy.core.multiarray import _reconstruct, scalar
    safe += [_reconstruct, scalar]
    # numpy >= 1.25 pickles dtypes through their classes (numpy.dtypes.Float64DType ...)
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        safe += [
            getattr(dtypes, name) for name in dir(dtypes)
            if name.endswith('DType') and isinstance(getattr(dtypes, name), type)
        ]
    return safe


@_once
def allow_mmengine_checkpoints():
    add_safe_globals = getattr(torch.serialization, 'add_safe_globals', None)
    if add_safe_globals is not None:  # torch < 2.4 has no weights_only default to fix
        add_safe_globals(mmengine_checkpoint_safe_globals())


def _no_cuda():
    return not torch.cuda.is_available()


def _cpu_only():
    """No CUDA and none of the other accelerators MMEngine launches on."""
    from mmengine.device import get_device
    return get_device() == 'cpu'


@_once
def enable_cpu_distributed():
    import torch.distributed as torch_dist
    from mmengine.dist import utils as dist_utils
    from mmengine.model import MMDistributedDataParallel

    original_init_pytorch = dist_utils._init_dist_pytorch

    def _init_dist_pytorch(backend, init_backend='torch', **kwargs):
        if not _cpu_only() or init_backend != 'torch':
            return original_init_pytorch(backend, init_backend=init_backend, **kwargs)
        if backend == 'nccl':  # NCCL needs CUDA; gloo is torch's CPU backend
            backend = 'gloo'
        torch_dist.init_process_group(backend=backend, **kwargs)

    dist_utils._init_dist_pytorch = _init_dist_pytorch

    original_ddp_init = MMDistributedDataParallel.__init__

    @functools.wraps(original_ddp_init)
    def ddp_init(self, module, detect_anomalous_params=False, **kwargs):
        on_cpu = all(p.device.type == 'cpu' for p in module.parameters())
        if on_cpu and _cpu_only():
            # DDP of a CPU module must not name devices.
            kwargs['device_ids'] = None
            kwargs.pop('output_device', None)
            # torch's SyncBN has no CPU implementation ('SyncBatchNorm layers only
            # work with GPU modules'): BN with per-process statistics instead.
            if any(isinstance(m, torch.nn.SyncBatchNorm) for m in module.modules()):
                from mmengine.logging import print_log
                from mmengine.model import revert_sync_batchnorm
                module = revert_sync_batchnorm(module)
                print_log('SyncBN has no CPU implementation in torch: on CPU the '
                          'processes use BN with per-process statistics.',
                          logger='current', level=logging.WARNING)
        original_ddp_init(
            self, module=module, detect_anomalous_params=detect_anomalous_params, **kwargs)

    MMDistributedDataParallel.__init__ = ddp_init


@_once
def tolerate_mmselfsup_double_registration():
    # Two fixes for the ResLayerExtraNorm that mmpretrain and mmselfsup each copy into
    # mmdet's MODELS, neither of which imports mmdet here (it imports mmcv's compiled
    # ops, which pretraining does not need):
    # 1. the second registration of that component is skipped (patched on mmengine's
    #    Registry class, limited to the registry 'model' of scope 'mmdet');
    # 2. the two modules import mmdet at import time only to register it: while
    #    mmdet's models are not imported, they run as if mmdet were absent (their own
    #    fallback, ResLayerExtraNorm = None), and run again right after mmdet.models
    #    has been imported, which registers the component before mmdet's first build.
    import importlib
    import importlib.abc
    import sys

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


def _fix_dataloader_cfg(dataloader):
    """The dataloader dict with the two config traps below removed (a copy)."""
    if not isinstance(dataloader, dict):
        return dataloader
    dataloader = dataloader.copy()
    if isinstance(dataloader.get('collate_fn'), dict):
        collate_fn = dict(dataloader['collate_fn'])
        collate_fn.pop('_scope_', None)
        dataloader['collate_fn'] = collate_fn
    if dataloader.get('persistent_workers') and dataloader.get('num_workers', 0) == 0:
        from mmengine.logging import print_log
        print_log(
            'num_workers=0 loads data in the main process, where there are no workers '
            'to keep: persistent_workers was turned off for this dataloader.',
            logger='current', level=logging.WARNING)
        dataloader['persistent_workers'] = False
    return dataloader


@_once
def fix_collate_fn_scope():
    from mmengine.runner import Runner

    original = Runner.build_dataloader  # a staticmethod, seen as a plain function

    @functools.wraps(original)
    def build_dataloader(dataloader, *args, **kwargs):
        return original(_fix_dataloader_cfg(dataloader), *args, **kwargs)

    Runner.build_dataloader = staticmethod(build_dataloader)


def _adjust_hue_modular(img, hue_factor, backend=None):
    """mmcv.adjust_hue with the hue shift done modulo 256 (numpy-version independent)."""
    import cv2
    from mmcv.image import io as mmcv_io
    from PIL import Image

    if backend is None:
        backend = mmcv_io.imread_backend
    if backend not in ['cv2', 'pillow']:
        raise ValueError(f'backend: {backend} is not supported. '
                         "Supported backends are 'cv2', 'pillow'")
    if not (-0.5 <= hue_factor <= 0.5):
        raise ValueError(f'hue_factor:{hue_factor} is not in [-0.5, 0.5].')
    if not (isinstance(img, np.ndarray) and (img.ndim in {2, 3})):
        raise TypeError('img should be ndarray with dim=[2 or 3].')
    # What np.uint8(negative float) gave under numpy 1: C truncation, then mod 256.
    shift = np.uint8(int(hue_factor * 255) % 256)

    if backend == 'pillow':
        if img.dtype != np.uint8:
            raise TypeError('the pillow backend of adjust_hue supports uint8 images only')
        pil_image = Image.fromarray(img[..., ::-1], mode='RGB')
        input_mode = pil_image.mode
        h, s, v = pil_image.convert('HSV').split()
        np_h = np.array(h, dtype=np.uint8)
        np_h += shift  # uint8 addition wraps around the hue circle
        h = Image.fromarray(np_h, 'L')
        pil_image = Image.merge('HSV', (h, s, v)).convert(input_mode)
        return np.array(pil_image, dtype=img.dtype)[..., ::-1]
    dtype = img.dtype
    hsv_img = cv2.cvtColor(img.astype(np.uint8), cv2.COLOR_BGR2HSV_FULL)
    h, s, v = cv2.split(hsv_img)
    h = h.astype(np.uint8)
    h += shift
    hsv_img = cv2.merge([h, s, v])
    return cv2.cvtColor(hsv_img, cv2.COLOR_HSV2BGR_FULL).astype(dtype)


@_once
def fix_numpy2_adjust_hue():
    import mmcv
    import mmcv.image
    import mmcv.image.photometric as photometric

    global _ORIGINAL_ADJUST_HUE
    _ORIGINAL_ADJUST_HUE = photometric.adjust_hue
    for namespace in (mmcv, mmcv.image, photometric):
        namespace.adjust_hue = _adjust_hue_modular


@_once
def fix_mmselfsup_registry_locations():
    import importlib.util
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


# ---------------------------------------------------------------------------
# mmpretrain's multimodal models under transformers >= 4.52 (5.x included)
# ---------------------------------------------------------------------------

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
        import importlib.util
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


@_once
def turn_off_broken_mmpretrain_multimodal():
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



# ---------------------------------------------------------------------------
# AmpOptimWrapper without CUDA
# ---------------------------------------------------------------------------

def _amp_device_available():
    """What MMEngine's AmpOptimWrapper asserts: a CUDA, NPU, MLU or MUSA device."""
    from mmengine import device
    checks = ('is_cuda_available', 'is_npu_available', 'is_mlu_available',
              'is_musa_available')
    return any(getattr(device, name)() for name in checks if hasattr(device, name))


def cpu_computes_bf16():
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 / AMX)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


_AMP_WARNED = []


def _autocast_instead_of_amp(loss_scale='dynamic', dtype=None, use_fsdp=False, **kwargs):
    """The AutocastOptimWrapper that stands in for ``AmpOptimWrapper(...)`` here."""
    from mmengine.logging import print_log

    from mmtobias.engine.optimizers import AutocastOptimWrapper

    asked_bf16 = dtype in ('bfloat16', torch.bfloat16)
    if asked_bf16 or cpu_computes_bf16():
        autocast_dtype, what = 'bfloat16', 'bf16 autocast' + (
            '' if asked_bf16 else ' (this CPU computes bf16 natively)')
    else:
        autocast_dtype, what = 'float32', (
            'float32: this CPU has no native bf16, where emulated bf16 runs several times '
            'slower; optim_wrapper.type=AutocastOptimWrapper with dtype=bfloat16 forces it')
    if not _AMP_WARNED:
        _AMP_WARNED.append(True)
        print_log(
            'AmpOptimWrapper needs a CUDA, NPU, MLU or MUSA device and none is available: '
            f'the optimizer wrapper is AutocastOptimWrapper instead, {what} '
            f'(loss_scale={loss_scale!r} is not needed without float16).',
            logger='current', level=logging.WARNING)
    return AutocastOptimWrapper(dtype=autocast_dtype, **kwargs)


@_once
def run_amp_optim_wrapper_without_cuda():
    from mmengine.optim import AmpOptimWrapper

    def __new__(cls, *args, **kwargs):
        if cls is AmpOptimWrapper and not _amp_device_available():
            import inspect
            bound = inspect.signature(AmpOptimWrapper.__init__).bind(None, *args, **kwargs)
            arguments = dict(bound.arguments)
            arguments.pop('self')
            arguments.update(arguments.pop('kwargs', {}))
            # not an AmpOptimWrapper instance, so Python does not call __init__ again
            return _autocast_instead_of_amp(**arguments)
        return object.__new__(cls)

    AmpOptimWrapper.__new__ = staticmethod(__new__)


def apply_all():
    """Apply every compatibility fix (idempotent)."""
    # first: before anything below can import mmpretrain.models
    turn_off_broken_mmpretrain_multimodal()
    allow_mmengine_checkpoints()
    enable_cpu_distributed()
    tolerate_mmselfsup_double_registration()
    fix_collate_fn_scope()
    fix_numpy2_adjust_hue()
    fix_mmselfsup_registry_locations()
    run_amp_optim_wrapper_without_cuda()


__all__ = [
    'apply_all', 'allow_mmengine_checkpoints', 'enable_cpu_distributed',
    'tolerate_mmselfsup_double_registration', 'fix_collate_fn_scope', 'fix_numpy2_adjust_hue',
    'fix_mmselfsup_registry_locations', 'turn_off_broken_mmpretrain_multimodal',
    'run_amp_optim_wrapper_without_cuda', 'mmpretrain_multimodal_blocker',
    'mmpretrain_multimodal_status', 'cpu_computes_bf16', 'mmengine_checkpoint_safe_globals'
]
