# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""Small helpers for tests and examples: generated image folders."""
import os
import os.path as osp

import numpy as np
from PIL import Image


def make_image_folder(root, num_images=8, size=(48, 40), classes=('a', 'b'), seed=0):
    """Write ``num_images`` random RGB JPEGs under ``root``.

    Args:
        root (str): the folder to create.
        num_images (int): how many images. Defaults to 8.
        size (tuple[int, int]): (width, height). Defaults to (48, 40).
        classes (tuple[str]): sub-folders cycled through (ImageNet ``class/file``
            layout); empty for a flat folder. Defaults to ('a', 'b').
        seed (int): the pixel seed. Defaults to 0.

    Returns:
        list[str]: the written paths, in order.
    """
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(num_images):
        folder = osp.join(root, classes[i % len(classes)]) if classes else root
        os.makedirs(folder, exist_ok=True)
        arr = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        path = osp.join(folder, f'img_{i:03d}.jpg')
        Image.fromarray(arr).save(path, quality=90)
        paths.append(path)
    return paths




def load_script(path):
    """Import a script (``tools/det_train.py``) as a module, to call its ``main(argv)``."""
    import importlib.util
    name = os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_box_folder(root, num_images=6):
    """Images with Pascal-VOC XML boxes in the kangaroo layout (``images/``, ``annots/``).

    Each 128x96 image holds a red square ('red_square') and a blue bar ('blue_bar').

    Returns:
        str: ``root``.
    """
    os.makedirs(osp.join(root, 'images'), exist_ok=True)
    os.makedirs(osp.join(root, 'annots'), exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(num_images):
        img = np.full((96, 128, 3), 90, np.uint8) + rng.integers(0, 20, (96, 128, 3),
                                                                 dtype=np.uint8)
        img[10:50, 10:50] = (220, 20, 20)
        img[60:80, 40:120] = (20, 20, 220)
        Image.fromarray(img).save(osp.join(root, 'images', f'{i}.jpg'))
        with open(osp.join(root, 'annots', f'{i}.xml'), 'w') as f:
            f.write('<annotation><size><width>128</width><height>96</height></size>'
                    '<object><name>red_square</name><bndbox><xmin>11</xmin><ymin>11</ymin>'
                    '<xmax>50</xmax><ymax>50</ymax></bndbox></object>'
                    '<object><name>blue_bar</name><bndbox><xmin>41</xmin><ymin>61</ymin>'
                    '<xmax>120</xmax><ymax>80</ymax></bndbox></object></annotation>')
    return root


# ``--cfg-options`` that shrink the detection-transfer configs to a ResNet-18 (the
# width tiny_pretrain_config trains) with few proposals and RoIs, per layout.
DET_R18_OPTIONS = dict(
    fpn=['model.backbone.depth=18', 'model.neck.in_channels=[64,128,256,512]'],
    c4=['model.backbone.depth=18', 'model.roi_head.shared_head.depth=18',
        'model.rpn_head.in_channels=256', 'model.rpn_head.feat_channels=256',
        'model.roi_head.bbox_roi_extractor.out_channels=256',
        'model.roi_head.bbox_head.in_channels=512'])
DET_SMALL_OPTIONS = [
    'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
    'test_dataloader.num_workers=0', 'test_dataloader.persistent_workers=False',
    'model.train_cfg.rpn_proposal.max_per_img=64', 'model.train_cfg.rcnn.sampler.num=8',
    'model.test_cfg.rpn.max_per_img=8', 'default_hooks.logger.interval=1'
]

def _walk_dicts(obj):
    """Every dict in a nested config structure (lists, tuples, dicts)."""
    if isinstance(obj, dict):
        yield obj
        for v in obj.values():
            yield from _walk_dicts(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from _walk_dicts(v)


def tiny_pretrain_config(config, out_file, data_root, mask_file, batch_size=2):
    """Write a CPU-sized copy of a pretraining config, for tests of the real chain.

    The config keeps its algorithm, pipeline and hooks; only sizes change: a
    full-width ResNet-18 (so the converted checkpoint fits the detector configs
    shrunk the same way, ``model.backbone.depth=18``), 32 px MoCo / SimCLR views,
    64 px InsLoc composites, a 32-key queue, the Tobias hook on a ResNet-18 in fp32,
    one epoch, a checkpoint per epoch. The result is a plain config file for
    ``tools/train.py``.

    Args:
        config (str): a pretraining config, e.g. ``configs/mocov2_tobias_r50.py``.
        out_file (str): where to write the shrunk config (``.py``).
        data_root (str): the training image folder.
        mask_file (str): the Tobias mask file to use (hook and transforms).
        batch_size (int): per process. Defaults to 2.

    Returns:
        str: ``out_file``.
    """
    from mmengine.config import Config

    cfg = Config.fromfile(config)
    model = cfg.model
    model.backbone.update(depth=18, norm_cfg=dict(type='BN'))
    fpn = model.get('box_head') is not None
    if fpn:  # InsLoc-FPN: the neck keeps the detector's 256 channels
        model.neck.in_channels = [64, 128, 256, 512]
        model.box_head.out_channels = 16
    else:
        model.neck.update(in_channels=512, hid_channels=32, out_channels=16)
    if 'queue_len' in model:
        model.queue_len = 32
    if 'feat_dim' in model:
        model.feat_dim = 16
    for node in _walk_dicts(cfg.train_dataloader.dataset.pipeline):
        if node.get('type') == 'RandomResizedCrop':
            node['scale'] = 32
        if node.get('type') == 'InsLocComposite':
            node.update(bg_size=64, paste_size_range=(32, 63))
        if 'mask_file' in node:
            node['mask_file'] = mask_file
    for hook in cfg.get('custom_hooks', []):
        if hook.get('type') == 'TobiasMaskGenerator':
            hook.update(mask_file=mask_file, arch='resnet18', precision='fp32',
                        batch_size=4, num_workers=0)
    cfg.train_dataloader.batch_size = batch_size
    cfg.train_dataloader.dataset.data_root = data_root
    cfg.train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=1)
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    cfg.env_cfg.cudnn_benchmark = False
    cfg.randomness = dict(seed=0)
    os.makedirs(os.path.dirname(os.path.abspath(out_file)), exist_ok=True)
    cfg.dump(out_file)
    return out_file


class _FirstStepReached(Exception):
    """Raised by :func:`first_step_state`'s hook to stop the run."""


def first_step_state(cfg):
    """The model state a training run of ``cfg`` starts its first step from.

    ``Runner.from_cfg(cfg).train()`` runs until the first ``before_train_iter`` (after
    the Runner's init and load, every ``before_train`` hook and the first batch); the
    state is copied there and the run stopped. Build ``cfg`` as the entry point does
    (e.g. ``tools/train.py``'s ``merge_args``).

    Returns:
        dict[str, Tensor]: a copy of ``model.state_dict()``.
    """
    from mmengine.hooks import Hook
    from mmengine.model import is_model_wrapper
    from mmengine.runner import Runner

    state = {}

    class KeepFirstStep(Hook):
        priority = 'LOWEST'

        def before_train_iter(self, runner, batch_idx, data_batch=None):
            model = runner.model.module if is_model_wrapper(runner.model) else runner.model
            state.update({k: v.detach().clone() for k, v in model.state_dict().items()})
            raise _FirstStepReached

    runner = Runner.from_cfg(cfg)
    runner.register_hook(KeepFirstStep())
    try:
        runner.train()
    except _FirstStepReached:
        return state
    raise RuntimeError(f'{cfg.filename} trained without a single iteration')


# ---------------------------------------------------------------------------
# NCCL's rules, enforced on gloo
#
# The test machines have no GPU, so multi-process tests run on gloo, which accepts
# what NCCL refuses: a non-contiguous view (``gt[:, 1]``, ``x.transpose(0, 1)``), a
# sparse tensor, or all_gather inputs whose shape or dtype differ between ranks. The
# users run NCCL. ``install_nccl_rules()`` wraps the torch.distributed collectives so
# that a 2-process gloo test fails where an NCCL run would.
# ---------------------------------------------------------------------------

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
    import torch
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for t in value if isinstance(t, torch.Tensor)]
    return []


def _describe(t):
    return (f'shape {tuple(t.shape)}, stride {tuple(t.stride())}, '
            f'dtype {t.dtype}' if t.layout == __import__('torch').strided
            else f'layout {t.layout}')


def check_nccl_tensor(t, where):
    """Raise :class:`NCCLRuleError` unless ``t`` is dense and contiguous."""
    import torch
    if t.layout != torch.strided:
        raise NCCLRuleError(f'{where}: NCCL takes dense tensors only, got '
                            f'{_describe(t)}; call .to_dense() first.')
    if not t.is_contiguous():
        raise NCCLRuleError(f'{where}: NCCL raises "Tensors must be '
                            f'contiguous" for {_describe(t)}; call '
                            f'.contiguous() before the collective.')


def _check_same_on_every_rank(t, where, group):
    """all_gather needs the same shape and dtype on every rank."""
    import torch
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
    import torch
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
    import functools

    import torch
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
    import torch
    for name, fn in list(_ORIGINALS.items()):
        setattr(torch.distributed, name, fn)
        del _ORIGINALS[name]


def run_script_under_nccl_rules(argv):
    """``python -m mmtobias.testing SCRIPT ARGS``: run SCRIPT under NCCL's rules.

    For multi-process tests: ``python -m torch.distributed.run --nproc_per_node 2
    -m mmtobias.testing tools/train.py CONFIG --launcher pytorch``.
    """
    import runpy
    import sys
    if not argv:
        raise SystemExit('usage: python -m mmtobias.testing SCRIPT [ARGS ...]')
    install_nccl_rules()
    sys.argv = list(argv)
    sys.path.insert(0, os.path.dirname(os.path.abspath(argv[0])))
    runpy.run_path(argv[0], run_name='__main__')


if __name__ == '__main__':
    import sys
    run_script_under_nccl_rules(sys.argv[1:])
