# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""Report the environment, OpenMMLab style, and say what to fix.

MMEngine's ``collect_env`` (platform, Python, CUDA, GPUs, compilers, PyTorch,
TorchVision, OpenCV, MMEngine) plus the OpenMMLab packages mmtobias uses, transformers
and whether mmpretrain's multimodal models are on (off under transformers >= 5, where
they cannot import; see ``mmtobias.utils.compat``), whether mmtobias imports, cuDNN,
each GPU's compute capability, and which ops mmcv was compiled with. Where a GPU
is visible, one mmcv ``RoIAlign`` and one torchvision ``roi_align`` run on a
CUDA tensor: mmdet (detection transfer) needs the first, mmtobias's own code
only the second. Problems are listed at the end as warnings that name the fix.

Examples::

    python tools/collect_env.py
    python tools/collect_env.py --json env.json    # the same, machine-readable
"""
import argparse
import importlib
import importlib.metadata
import importlib.util
import json
from collections import OrderedDict

import torch

SETUP = 'bash tools/setup.sh'
PACKAGES = ('mmcv', 'mmdet', 'mmpretrain', 'mmselfsup', 'mmcls', 'mmtobias')  # + MMEngine


def package_version(name):
    """Version of an importable package without importing it (mmcv may be
    installed as ``mmcv-lite``, which holds the same ``mmcv`` package)."""
    for dist in (name, f'{name}-lite'):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    if importlib.util.find_spec(name) is None:
        return None
    return getattr(importlib.import_module(name), '__version__', 'unknown')


def import_mmtobias():
    """'ok', or the error ``import mmtobias`` raises here."""
    try:
        import mmtobias  # noqa: F401  (also applies the compatibility fixes)
    except Exception as e:
        return f'{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ""}'
    return 'ok'


def multimodal_status():
    """Whether mmpretrain's multimodal models (BLIP, CLIP, LLaVA, ...) are on, and why."""
    try:
        from mmtobias.utils.compat import mmpretrain_multimodal_status
    except Exception as e:
        return f'unknown (mmtobias does not import: {type(e).__name__})'
    on, why = mmpretrain_multimodal_status()
    if on is None:
        return why
    return f'{"on" if on else "off"} ({why})'


def mmcv_ops_status():
    """Which ops mmcv was compiled with.

    Returns:
        dict: ``kind`` ('cuda', 'cpu' or 'none'), ``cuda`` (the CUDA version
        mmcv was compiled with, or None), ``compiler`` and ``error`` (why
        ``mmcv.ops`` does not import, or None).
    """
    try:
        from mmcv.ops import get_compiler_version, get_compiling_cuda_version
    except Exception as e:  # ImportError (no _ext), OSError (undefined symbol)
        return dict(kind='none', cuda=None, compiler=None,
                    error=f'{type(e).__name__}: {e}')
    cuda = get_compiling_cuda_version()
    cuda = None if cuda == 'not available' else cuda
    return dict(kind='cuda' if cuda else 'cpu', cuda=cuda,
                compiler=get_compiler_version(), error=None)


def _roi_inputs(device):
    g = torch.Generator().manual_seed(0)
    feats = torch.rand(2, 8, 16, 16, generator=g).to(device)
    rois = torch.tensor([[0., 8., 8., 120., 100.],
                         [1., 30., 20., 200., 240.]], device=device)
    return feats, rois


def run_mmcv_roi_align(device):
    """Run one mmcv RoIAlign on ``device``; None when it works, else the
    error."""
    try:
        from mmcv.ops import RoIAlign
        feats, rois = _roi_inputs(device)
        out = RoIAlign((7, 7), 1 / 16, sampling_ratio=0)(feats, rois)
        if device != 'cpu':
            torch.cuda.synchronize()
        if out.shape != (2, 8, 7, 7) or not torch.isfinite(out).all():
            return f'unexpected output {tuple(out.shape)}'
    except Exception as e:
        return f'{type(e).__name__}: {str(e).splitlines()[0]}'
    return None


def run_torchvision_roi_align(device):
    """Run one torchvision roi_align on ``device``; None when it works."""
    try:
        from torchvision.ops import roi_align
        feats, rois = _roi_inputs(device)
        out = roi_align(feats, rois, (7, 7), 1 / 16, 0, aligned=True)
        if device != 'cpu':
            torch.cuda.synchronize()
        if out.shape != (2, 8, 7, 7):
            return f'unexpected output {tuple(out.shape)}'
    except Exception as e:
        return f'{type(e).__name__}: {str(e).splitlines()[0]}'
    return None


def collect_env():
    """The environment as an ordered ``{name: value}`` dict."""
    from mmengine.utils.dl_utils import collect_env as mmengine_collect_env

    env = OrderedDict(mmengine_collect_env())
    env['cuDNN'] = (str(torch.backends.cudnn.version())
                    if torch.backends.cudnn.is_available() else 'not available')
    env['torch built for CUDA'] = torch.version.cuda or 'none (CPU build)'
    num_gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    env['GPUs'] = num_gpus
    for i in range(num_gpus):
        props = torch.cuda.get_device_properties(i)
        env[f'GPU {i}'] = (f'{props.name}, compute capability '
                           f'{props.major}.{props.minor}, '
                           f'{props.total_memory / 2**30:.0f} GiB')
    for name in PACKAGES:
        env[name] = package_version(name) or 'not installed'
    env['transformers'] = package_version('transformers') or 'not installed'
    env['import mmtobias'] = import_mmtobias()
    env['mmpretrain multimodal'] = multimodal_status()
    ops = mmcv_ops_status()
    env['mmcv ops'] = dict(
        cuda=f'compiled for CUDA {ops["cuda"]} (and CPU)',
        cpu='compiled for CPU only',
        none=f'not compiled / not importable ({ops["error"]})')[ops['kind']]
    if ops['compiler']:
        env['mmcv ops compiler'] = ops['compiler']
    env['mmcv RoIAlign (CPU)'] = ((run_mmcv_roi_align('cpu') or 'ok')
                                  if ops['kind'] != 'none' else 'skipped')
    env['torchvision roi_align (CPU)'] = run_torchvision_roi_align('cpu') or 'ok'
    if num_gpus:
        env['mmcv RoIAlign (CUDA)'] = ((run_mmcv_roi_align('cuda') or 'ok')
                                       if ops['kind'] != 'none' else 'skipped')
        env['torchvision roi_align (CUDA)'] = (
            run_torchvision_roi_align('cuda') or 'ok')
    env['_mmcv_ops_kind'] = ops['kind']
    return env


def check(env):
    """What to fix in an environment from :func:`collect_env`.

    Returns:
        tuple[list[str], list[str]]: warnings (each naming the fix) and notes.
    """
    warnings, notes = [], []
    if env.get('import mmtobias', 'ok') != 'ok':
        warnings.append(
            f'import mmtobias fails ({env["import mmtobias"]}): run {SETUP}, or install '
            'mmtobias into this environment (pip install -e /path/to/mmtobias).')
    kind = env['_mmcv_ops_kind']
    gpus = env['GPUs']
    torch_cuda = torch.version.cuda
    if kind == 'none':
        warnings.append(
            'mmcv has no compiled ops (mmcv.ops does not import): detection '
            'transfer (mmdet, tools/det_train.py) and InsLoc-FPN (mmdet.FPN) '
            'cannot run; pretraining (MoCo v2, SimCLR, Tobias, InsLoc-C4) and '
            f'mask generation can. Fix: {SETUP} (builds and caches mmcv with '
            'its ops).')
    elif gpus and env.get('mmcv RoIAlign (CUDA)') != 'ok':
        if kind == 'cpu':
            why = 'mmcv ops are compiled for CPU only, but a GPU is visible'
        else:
            why = (f'mmcv RoIAlign fails on this GPU '
                   f'({env.get("mmcv RoIAlign (CUDA)")}); mmcv was compiled '
                   f'for CUDA {mmcv_ops_status()["cuda"]}, perhaps for other '
                   'GPUs')
        warnings.append(
            f'{why}: mmdet (detection transfer) fails at its first RoIAlign/NMS '
            'on a CUDA tensor. Fix: MMTOBIAS_MMCV_OPS=cuda ' + SETUP + ' on '
            f'this machine (needs an nvcc of CUDA {torch_cuda}, the version '
            'torch is built for; set CUDA_HOME to that toolkit, and '
            'TORCH_CUDA_ARCH_LIST to override the GPUs\' compute capabilities).')
    if gpus and env.get('torchvision roi_align (CUDA)') != 'ok':
        warnings.append(
            'torchvision roi_align fails on the GPU '
            f'({env.get("torchvision roi_align (CUDA)")}): torchvision does not '
            'match torch; reinstall the torchvision built for this torch '
            '(requirements/torch.txt).')
    if not gpus:
        notes.append(
            'no GPU is visible (torch.cuda.is_available() is False): everything '
            'runs on the CPU' + (
                '; mmcv ops are compiled for CPU only, so on GPU nodes run '
                f'{SETUP} there (its CUDA build is cached apart)'
                if kind == 'cpu' else '') + '.')
    return warnings, notes


def format_env(env, warnings, notes=()):
    lines = [f'{k}: {v}' for k, v in env.items() if not k.startswith('_')]
    lines += [f'NOTE: {n}' for n in notes]
    lines += [f'WARNING: {w}' for w in warnings]
    return '\n'.join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--json', metavar='FILE',
                        help='also write the report (and warnings) as JSON')
    args = parser.parse_args(argv)
    env = collect_env()
    warnings, notes = check(env)
    print(format_env(env, warnings, notes))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(env, warnings=warnings, notes=notes), f, indent=2,
                      default=str)
    return env, warnings, notes


if __name__ == '__main__':
    main()
