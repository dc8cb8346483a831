# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""Multi-process tests on CPUs: NCCL's rules enforced on gloo, and a free port.

The test machines have no GPU, so multi-process tests run on gloo, which accepts
what NCCL refuses: a non-contiguous view (``gt[:, 1]``, ``x.transpose(0, 1)``), a
sparse tensor, or all_gather inputs whose shape or dtype differ between ranks. The
users run NCCL. ``install_nccl_rules()`` (or ``with nccl_rules():``) wraps the
torch.distributed collectives so that a 2-process gloo test fails where an NCCL run
would; ``python -m mmtobias.testing SCRIPT ARGS`` runs a script under them.
"""
import functools
import os.path as osp
import runpy
import socket
import sys
from contextlib import contextmanager

import torch


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on now (``MASTER_PORT``)."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


class NCCLRuleError(RuntimeError):
    """A tensor that NCCL would refuse reached a torch.distributed collective."""


# collective -> positions of its tensor / tensor-list arguments
_COLLECTIVES = dict(
    all_reduce=(0, ),
    broadcast=(0, ),
    reduce=(0, ),
    all_gather=(0, 1),
    all_gather_into_tensor=(0, 1),
    reduce_scatter=(0, 1),
    reduce_scatter_tensor=(0, 1),
    all_to_all=(0, 1),
    all_to_all_single=(0, 1),
    gather=(0, 1),
    scatter=(0, 1),
    send=(0, ),
    recv=(0, ),
    isend=(0, ),
    irecv=(0, ),
)
_ARG_NAMES = dict(
    tensor_list=1, output_tensor_list=0, input_tensor_list=1, gather_list=1,
    scatter_list=1, output=0, input=1, output_tensor=0, input_tensor=1, tensor=0)
_ORIGINALS = {}


def _tensors(value):
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for t in value if isinstance(t, torch.Tensor)]
    return []


def _describe(t):
    return (f'shape {tuple(t.shape)}, stride {tuple(t.stride())}, '
            f'dtype {t.dtype}' if t.layout == torch.strided
            else f'layout {t.layout}')


def check_nccl_tensor(t, where):
    """Raise :class:`NCCLRuleError` unless ``t`` is dense and contiguous."""
    if t.layout != torch.strided:
        raise NCCLRuleError(f'{where}: NCCL takes dense tensors only, got '
                            f'{_describe(t)}; call .to_dense() first.')
    if not t.is_contiguous():
        raise NCCLRuleError(f'{where}: NCCL raises "Tensors must be '
                            f'contiguous" for {_describe(t)}; call '
                            f'.contiguous() before the collective.')


def _check_same_on_every_rank(t, where, group):
    """all_gather needs the same shape and dtype on every rank."""
    dist = torch.distributed
    meta = torch.full((10, ), -1, dtype=torch.long)
    meta[0] = t.dim()
    meta[1] = _dtype_code(t.dtype)
    meta[2:2 + min(t.dim(), 8)] = torch.tensor(t.shape[:8], dtype=torch.long)
    world = dist.get_world_size(group)
    metas = [torch.empty_like(meta) for _ in range(world)]
    _ORIGINALS['all_gather'](metas, meta, group=group)
    if any(not torch.equal(m, metas[0]) for m in metas):
        shapes = [m[2:2 + int(m[0])].tolist() for m in metas]
        raise NCCLRuleError(
            f'{where}: the ranks all_gather different tensors (shapes per rank '
            f'{shapes}, dtype codes {[int(m[1]) for m in metas]}); NCCL needs '
            f'the same shape and dtype on every rank: pad to a common size.')


def _dtype_code(dtype):
    """A small int per dtype, to compare dtypes across ranks inside a tensor."""
    known = (torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.uint8,
             torch.int8, torch.int16, torch.int32, torch.int64, torch.bool)
    return known.index(dtype) if dtype in known else len(known)


def install_nccl_rules():
    """Make torch.distributed collectives refuse what NCCL refuses.

    Idempotent. Every tensor argument of the wrapped collectives must be dense
    and contiguous; ``all_gather`` / ``all_gather_into_tensor`` inputs must
    have one shape and dtype on every rank. A violation raises
    :class:`NCCLRuleError` naming the collective and the tensor, on every rank
    (the shape check is itself a collective, so no rank is left waiting).
    """
    dist = torch.distributed
    for name, positions in _COLLECTIVES.items():
        fn = getattr(dist, name, None)
        if fn is None or name in _ORIGINALS:
            continue
        _ORIGINALS[name] = fn

        def wrapper(*args, _fn=fn, _name=name, _pos=positions, **kwargs):
            found = [(i, args[i]) for i in _pos if i < len(args)]
            found += [(_ARG_NAMES[k], v) for k, v in kwargs.items()
                      if k in _ARG_NAMES]
            for i, value in found:
                for j, t in enumerate(_tensors(value)):
                    check_nccl_tensor(
                        t, f'torch.distributed.{_name} argument {i}'
                        + (f'[{j}]' if isinstance(value, (list, tuple)) else ''))
            if _name in ('all_gather', 'all_gather_into_tensor') and \
                    dist.is_initialized():
                inp = dict(found).get(1)
                if inp is not None:
                    _check_same_on_every_rank(
                        inp, f'torch.distributed.{_name}',
                        kwargs.get('group', args[2] if len(args) > 2 else None))
            return _fn(*args, **kwargs)

        setattr(dist, name, functools.wraps(fn)(wrapper))


def uninstall_nccl_rules():
    """Undo :func:`install_nccl_rules`."""
    for name, fn in list(_ORIGINALS.items()):
        setattr(torch.distributed, name, fn)
        del _ORIGINALS[name]


def run_script_under_nccl_rules(argv):
    """``python -m mmtobias.testing SCRIPT ARGS``: run SCRIPT under NCCL's rules.

    For multi-process tests: ``python -m torch.distributed.run --nproc_per_node 2
    -m mmtobias.testing tools/train.py CONFIG --launcher pytorch``.
    """
    if not argv:
        raise SystemExit('usage: python -m mmtobias.testing SCRIPT [ARGS ...]')
    install_nccl_rules()
    sys.argv = list(argv)
    sys.path.insert(0, osp.dirname(osp.abspath(argv[0])))
    runpy.run_path(argv[0], run_name='__main__')


@contextmanager
def nccl_rules():
    """``with nccl_rules():`` the collectives refuse what NCCL refuses, and not after."""
    install_nccl_rules()
    try:
        yield
    finally:
        uninstall_nccl_rules()
