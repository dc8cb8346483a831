# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""Config shrinking: the repository's configs at a size a CPU test trains in seconds.

:func:`shrink_config` is the one shrinker: a pretraining config (MoCo v2 / v3, SimCLR,
BYOL, SimSiam, DenseCL, Barlow Twins, SwAV, InsLoc C4 / FPN, with or without the Tobias
hook), a detector (C4 or FPN) or an SCDA localization config keeps its algorithm,
pipeline and hooks; only sizes change.
:func:`walk_dicts` is the one walk over a nested config.
"""
import os.path as osp

# ``--cfg-options`` that shrink the detection-transfer configs to a ResNet-18 (the
# width tiny_pretrain_config trains) with few proposals and RoIs, per layout; the
# same values shrink_config sets on a detector config.
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

_LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


def walk_dicts(obj):
    """Every dict in a nested config structure (a Config, dicts, lists, tuples).

    Parents come before their children, so a caller may change a dict's values
    as it is yielded; the walk goes on into the new values.

    Args:
        obj: a :class:`mmengine.config.Config`, dict, list or tuple.

    Yields:
        dict: each dict, the top one first, changed in place if the caller changes it.
    """
    from mmengine.config import Config

    if isinstance(obj, Config):
        obj = obj._cfg_dict
    if isinstance(obj, dict):
        yield obj
        for v in obj.values():
            yield from walk_dicts(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from walk_dicts(v)


# the name before the package split
_walk_dicts = walk_dicts


def shrink_config(cfg, data_root=None, mask_file=None, width=64, stage_blocks=None,
                  image_size=32, batch_size=2, num_workers=0, max_epochs=1, queue_len=16,
                  save_checkpoint=True, work_dir=None, seed=0):
    """Shrink a config in place to a tiny CPU run; algorithm, pipeline and hooks stay.

    What changes, where the config has it:

    - model: a ResNet-18 backbone (``width`` channels after the stem, BN where it
      had SyncBN), the neck, heads and queue sized to it: a 32-channel hidden layer,
      16-d embeddings, ``queue_len`` keys, a classifier's input, the predictor of
      BYOL / SimSiam / MoCo v3, the input of Barlow Twins' head, SwAV's prototypes
      and its hook's queue; a detector (C4 or FPN) at the sizes of
      :data:`DET_R18_OPTIONS` and :data:`DET_SMALL_OPTIONS`.
    - pipelines: every integer ``scale`` or ``crop_size`` (``RandomResizedCrop``,
      ``ResizeEdge``, ``CenterCrop``) becomes ``image_size``, a fixed ``(h, w)``
      stays; ``InsLocComposite`` pastes onto ``2 * image_size`` backgrounds.
    - the Tobias mask file: with ``mask_file``, ``cfg.mask_file`` and every explicit
      ``mask_file=`` in the config (the TobiasMaskGenerator hook, BackgroundSwap,
      CopyPaste, ...) are set to it, so both config layouts (the path on the hook
      and the transforms, or once at the top) read and write the same file. The
      TobiasMaskGenerator hook runs a ResNet-18 in fp32 on the main process.
    - data loaders: ``batch_size``, ``num_workers`` (and no persistent workers), full
      training batches, ``data_root`` on each loader's dataset.
    - schedule and runtime: ``max_epochs`` epochs, a checkpoint per epoch (or none),
      a log line per iteration, no cudnn benchmark, ``seed``, ``work_dir``.

    Args:
        cfg (mmengine.config.Config): the config, e.g. ``Config.fromfile(path)``.
        data_root (str, optional): the image folder of every data loader's dataset.
            Defaults to None (unchanged).
        mask_file (str, optional): the Tobias mask file. Defaults to None (unchanged).
        width (int): channels of the first ResNet stage; 64 keeps the real
            ResNet-18, whose checkpoints fit the detector configs shrunk the same
            way, 8 is 64 times cheaper. Defaults to 64.
        stage_blocks (tuple[int], optional): blocks per ResNet stage, e.g.
            ``(1, 1, 1, 1)`` for a backbone that takes it (SCDA). Defaults to None
            (the depth's).
        image_size (int): the crop size. Defaults to 32.
        batch_size (int): per process, every data loader. Defaults to 2.
        num_workers (int, optional): DataLoader workers of every data loader; None
            leaves the config's (to set them from the command line). Defaults to 0.
        max_epochs (int, optional): epochs of an ``EpochBasedTrainLoop``; None
            leaves ``train_cfg``. Defaults to 1.
        queue_len (int): keys in a MoCo / InsLoc queue. Defaults to 16.
        save_checkpoint (bool): ``epoch_N.pth`` after each epoch; False writes none.
            Defaults to True.
        work_dir (str, optional): ``cfg.work_dir``. Defaults to None (unchanged).
        seed (int): ``cfg.randomness.seed``. Defaults to 0.

    Returns:
        mmengine.config.Config: ``cfg``, shrunk.
    """
    if 'model' not in cfg or 'backbone' not in cfg.model:
        raise ValueError(f'shrink_config needs a config with model.backbone; '
                         f'{cfg.filename} has none.')
    if width % 8:
        raise ValueError(f'width={width!r}: use a multiple of 8 (8 or 64).')
    _shrink_model(cfg.model, width, queue_len)
    if stage_blocks is not None:
        cfg.model.backbone.stage_blocks = tuple(stage_blocks)
    if mask_file is not None:
        cfg.mask_file = mask_file
        for node in walk_dicts(cfg):
            if 'mask_file' in node:
                node['mask_file'] = mask_file
    for hook in cfg.get('custom_hooks', None) or []:
        if hook.get('type') == 'TobiasMaskGenerator':
            hook.update(arch='resnet18', precision='fp32', batch_size=4, num_workers=0)
        elif hook.get('type') == 'SwAVHook':  # its queue holds projections of a batch
            hook.update(feat_dim=16, batch_size=batch_size)
    for name in _LOADERS:
        loader = cfg.get(name, None)
        if not loader:
            continue
        loader.batch_size = batch_size
        if num_workers is not None:
            loader.update(num_workers=num_workers, persistent_workers=False)
        if data_root is not None:
            loader.dataset.data_root = data_root
        for node in walk_dicts(loader.dataset.get('pipeline', [])):
            for key in ('scale', 'crop_size'):  # a fixed (h, w) is the caller's
                if isinstance(node.get(key), int):
                    node[key] = image_size
            if node.get('type') == 'InsLocComposite':
                node.update(bg_size=2 * image_size,
                            paste_size_range=(image_size, 2 * image_size - 1))
    if cfg.get('train_dataloader', None):
        cfg.train_dataloader.drop_last = True
        if max_epochs is not None:
            cfg.train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
    if 'default_hooks' in cfg:
        cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1) \
            if save_checkpoint else dict(type='CheckpointHook', interval=10**6,
                                         save_last=False)
        cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    if 'env_cfg' in cfg:
        cfg.env_cfg.cudnn_benchmark = False
    cfg.randomness = dict(seed=seed)
    if work_dir is not None:
        cfg.work_dir = work_dir
    return cfg


def _shrink_model(model, width, queue_len):
    """A ResNet-18 of ``width`` and what reads its features, sized to it."""
    model.backbone.depth = 18
    norm_cfg = model.backbone.get('norm_cfg', None)
    if norm_cfg is not None and norm_cfg.get('type') in ('SyncBN', 'MMSyncBN'):
        # one CPU process has no SyncBN; other norms (frozen BN, GN) stay
        model.backbone.norm_cfg = dict(norm_cfg, type='BN')
    if width != 64:
        model.backbone.update(stem_channels=width, base_channels=width)
    stages = [width, 2 * width, 4 * width, 8 * width]  # ResNet-18 channels per stage
    roi_head = model.get('roi_head', None)
    if roi_head is not None:  # a detector
        if roi_head.get('shared_head', None):  # C4: res5 in the RoI head
            roi_head.shared_head.depth = 18
            model.rpn_head.update(in_channels=stages[2], feat_channels=stages[2])
            roi_head.bbox_roi_extractor.out_channels = stages[2]
            roi_head.bbox_head.in_channels = stages[3]
        else:
            model.neck.in_channels = stages
        train_cfg, test_cfg = model.get('train_cfg', {}), model.get('test_cfg', {})
        if 'rpn_proposal' in train_cfg:
            train_cfg.rpn_proposal.max_per_img = 64
        if 'rcnn' in train_cfg:
            train_cfg.rcnn.sampler.num = 8
        if 'rpn' in test_cfg:
            test_cfg.rpn.max_per_img = 8
        return
    neck = model.get('neck', None)
    projected = False
    if neck is not None and isinstance(neck.get('in_channels'), (list, tuple)):
        neck.in_channels = stages  # InsLoc-FPN: the neck keeps its own width
        if model.get('box_head', None) is not None:
            model.box_head.out_channels = 16
    elif neck is not None and 'in_channels' in neck:  # a projection MLP (not a pooling)
        neck.update(in_channels=stages[3], hid_channels=32, out_channels=16)
        projected = True
    head = model.get('head', None)
    if head is not None and 'in_channels' in head:
        # Barlow Twins' head reads the projection; a classifier reads the backbone
        head.in_channels = 16 if projected else stages[3]
    predictor = head.get('predictor', None) if head is not None else None
    if predictor is not None and 'in_channels' in predictor:  # BYOL, SimSiam, MoCo v3
        predictor.update(in_channels=16, hid_channels=32, out_channels=16)
    loss = head.get('loss', None) if head is not None else None
    if loss is not None and 'feat_dim' in loss:  # SwAV's prototypes read the projection
        loss.feat_dim = 16
    if 'queue_len' in model:
        model.queue_len = queue_len
    if 'feat_dim' in model:
        model.feat_dim = 16


def tiny_pretrain_config(config, out_file, data_root, mask_file, batch_size=2):
    """Write a CPU-sized copy of a pretraining config, for tests of the real chain.

    :func:`shrink_config` at the full ResNet-18 width (so the converted checkpoint
    fits the detector configs shrunk the same way, ``model.backbone.depth=18``),
    32 px views, 64 px InsLoc composites, a 32-key queue, one epoch and a
    checkpoint per epoch; the data loaders keep the config's workers (the tests set
    them from the command line, as a user would). The result is a plain config file
    for ``tools/train.py``.

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
    from mmengine.utils import mkdir_or_exist

    cfg = shrink_config(Config.fromfile(config), data_root=data_root, mask_file=mask_file,
                        batch_size=batch_size, num_workers=None, queue_len=32)
    mkdir_or_exist(osp.dirname(osp.abspath(out_file)))
    cfg.dump(out_file)
    return out_file
