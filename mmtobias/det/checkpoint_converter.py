# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""Convert self-supervised checkpoints (MoCo, Tobias, InsLoc) into mmdet detector keys.

Source formats (detected from the keys):

- ``openmmlab``: mmtobias / mmpretrain / mmselfsup, ``state_dict`` with ``backbone.*``
  (ResNet names shared by mmpretrain and mmdet), ``neck.*``, ``momentum_encoder.*``;
  for InsLoc-FPN also ``neck.*`` holding mmdet FPN keys and ``box_head.convs.{i}``,
  ``box_head.fcs.{0,1}``, ``box_head.fc_out``.
- ``moco``: the released PyTorch MoCo / Tobias files, ``module.encoder_q.*`` with
  torchvision ResNet names (those equal mmdet's); the MLP ``fc.*`` is dropped.
- ``backbone``: a bare ResNet state dict (``conv1.weight``, ``layer1.0...``), as written
  by backbone-extraction scripts or torchvision.

Target layouts:

- ``c4``: ``backbone.*`` for stages 1-3; ``backbone.layer4.*`` goes to
  ``roi_head.shared_head.layer4.*`` (the res5 head is initialised from the backbone).
- ``fpn``: ``backbone.*``; for InsLoc also the FPN (``neck.*``), the head convs
  ``box_head.convs.{i}`` -> ``roi_head.bbox_head.shared_convs.{i}`` and fc1
  ``box_head.fcs.0`` -> ``roi_head.bbox_head.shared_fcs.0``. fc2 and the output
  projection are pretext-task layers and are dropped.
"""
import os
import os.path as osp
import pickle
import re
from collections import Counter

import torch

FORMATS = ('openmmlab', 'moco', 'backbone')
ARCHS = ('c4', 'fpn')
_RESNET_KEY = re.compile(r'^(conv1|bn1|layer[1-4])\.')
_FPN_KEY = re.compile(r'^neck\.(lateral_convs|fpn_convs)\.')
_HEAD_KEYS = ((re.compile(r'^box_head\.convs\.(\d+)\.'), 'roi_head.bbox_head.shared_convs.{}.'),
              (re.compile(r'^box_head\.fcs\.0\.'), 'roi_head.bbox_head.shared_fcs.0.'))


def load_state_dict(path):
    """Load a checkpoint with ``weights_only=True`` and return its tensor state dict."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'checkpoint file {path!r} does not exist')
    try:
        ckpt = torch.load(path, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError as e:
        raise ValueError(
            f'cannot load {path!r} with weights_only=True ({e}). The file stores Python '
            'objects besides tensors; `import mmtobias` allows the ones mmengine writes, '
            'otherwise re-save only its state dict') from e
    if isinstance(ckpt, dict):
        for key in ('state_dict', 'model'):
            if isinstance(ckpt.get(key), dict):
                ckpt = ckpt[key]
                break
    if not isinstance(ckpt, dict) or not any(torch.is_tensor(v) for v in ckpt.values()):
        raise ValueError(f'{path!r} holds no state dict of tensors (top-level type '
                         f'{type(ckpt).__name__})')
    return {k: v for k, v in ckpt.items() if torch.is_tensor(v)}


def detect_format(state_dict):
    """Return the source format of ``state_dict``: one of :data:`FORMATS`."""
    keys = list(state_dict)
    if any(k.startswith(('module.encoder_q.', 'encoder_q.')) for k in keys):
        return 'moco'
    if any(k.startswith('backbone.') for k in keys):
        return 'openmmlab'
    if any(_RESNET_KEY.match(k) for k in keys):
        return 'backbone'
    prefixes = sorted({k.split('.')[0] for k in keys})
    raise ValueError(
        f'unrecognised checkpoint keys (top-level prefixes {prefixes[:10]}); expected '
        "'backbone.*' (mmpretrain/mmselfsup/mmtobias), 'module.encoder_q.*' (PyTorch "
        "MoCo/Tobias) or bare ResNet keys ('conv1.weight', 'layer1.0...')")


def _to_backbone_keys(state_dict, fmt):
    """Split into ``{resnet_key: tensor}`` and the remaining (non-backbone) items."""
    backbone, rest = {}, {}
    for key, val in state_dict.items():
        if fmt == 'openmmlab':
            name = key[len('backbone.'):] if key.startswith('backbone.') else None
        elif fmt == 'moco':
            m = re.match(r'^(?:module\.)?encoder_q\.(.*)$', key)
            name = m.group(1) if m else None
            if name is not None and not _RESNET_KEY.match(name):
                name = None  # the MLP projection fc.*
        else:
            name = key if _RESNET_KEY.match(key) else None
        if name is None:
            rest[key] = val
        else:
            backbone[name] = val
    return backbone, rest


def convert_state_dict(state_dict, arch, fmt=None):
    """Map a self-supervised state dict onto mmdet detector keys.

    Args:
        state_dict (dict[str, Tensor]): the source weights.
        arch (str): target detector layout, ``'c4'`` or ``'fpn'``.
        fmt (str, optional): source format; detected from the keys when None.

    Returns:
        tuple[dict, dict]: the converted state dict and a report with ``format``,
        ``converted`` (count per target prefix) and ``dropped`` (count per source prefix).
    """
    if arch not in ARCHS:
        raise ValueError(f'arch={arch!r} is not supported; use one of {ARCHS}')
    fmt = fmt or detect_format(state_dict)
    if fmt not in FORMATS:
        raise ValueError(f'fmt={fmt!r} is not supported; use one of {FORMATS} or None')
    backbone, rest = _to_backbone_keys(state_dict, fmt)
    if not backbone:
        raise ValueError(f'no ResNet backbone weights found in the {fmt!r} checkpoint')
    out = {}
    for name, val in backbone.items():
        if arch == 'c4' and name.startswith('layer4.'):
            out['roi_head.shared_head.' + name] = val
        else:
            out['backbone.' + name] = val
    dropped = Counter()
    for key, val in rest.items():
        new = None
        if arch == 'fpn' and fmt == 'openmmlab':
            if _FPN_KEY.match(key):
                new = key
            for pattern, target in _HEAD_KEYS:
                m = pattern.match(key)
                if m:
                    new = target.format(*m.groups()) + key[m.end():]
        if new is None:
            dropped['.'.join(key.split('.')[:2])] += 1
        else:
            out[new] = val
    converted = Counter('.'.join(k.split('.')[:2]) for k in out)
    return out, dict(format=fmt, converted=dict(converted), dropped=dict(dropped))


def convert_checkpoint(src, dst, arch):
    """Convert the checkpoint file ``src`` into an mmdet checkpoint file ``dst``.

    The output holds ``state_dict`` and a ``meta`` of plain strings, so it loads with
    ``weights_only=True``. Written atomically. Returns the report of
    :func:`convert_state_dict`.
    """
    state_dict, report = convert_state_dict(load_state_dict(src), arch)
    os.makedirs(osp.dirname(osp.abspath(dst)), exist_ok=True)
    tmp = f'{dst}.{os.getpid()}.tmp'  # several ranks may convert at once
    torch.save(dict(state_dict=state_dict,
                    meta=dict(source=osp.abspath(src), arch=arch, format=report['format'])),
               tmp)
    os.replace(tmp, dst)
    return report


def check_against_model(state_dict, model):
    """Compare converted weights with a built detector.

    Returns:
        tuple[list, list, list]: detector keys the checkpoint does not provide, converted
        keys the detector does not have, and ``(key, ckpt_shape, model_shape)`` mismatches.
    """
    target = model.state_dict()
    missing = [k for k in target if k not in state_dict and not k.endswith('num_batches_tracked')]
    unexpected = [k for k in state_dict if k not in target]
    mismatched = [(k, tuple(v.shape), tuple(target[k].shape)) for k, v in state_dict.items()
                  if k in target and tuple(v.shape) != tuple(target[k].shape)]
    return missing, unexpected, mismatched


def compare_loaded(state_dict, model):
    """Compare a model's tensors with the checkpoint values loaded into them.

    Only the keys of ``state_dict`` that the model has, with the same shape, are
    compared (:func:`check_against_model` reports the others).

    Returns:
        dict: ``compared`` (how many tensors), ``equal`` (how many hold exactly the
        checkpoint's values), ``max_abs_diff`` (the largest absolute difference, 0.0
        when all are equal) and ``differ`` (the names of the others).
    """
    target = model.state_dict()
    compared, max_abs_diff, differ = 0, 0.0, []
    for key, value in state_dict.items():
        current = target.get(key)
        if current is None or current.shape != value.shape:
            continue
        compared += 1
        current = current.detach().cpu()
        if not torch.equal(current, value.to(current.dtype)):
            differ.append(key)
            diff = (current.double() - value.double()).abs().max().item()
            max_abs_diff = max(max_abs_diff, diff)
    return dict(compared=compared, equal=compared - len(differ), max_abs_diff=max_abs_diff,
                differ=differ)
