# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""Detection transfer in one command: convert, initialise, fine-tune and test with mmdet.

Examples::

    # VOC07+12 with a Tobias checkpoint (R50-C4, the papers' protocol)
    python tools/det_train.py \\
        configs/benchmarks/mmdetection/voc0712/faster-rcnn_r50-c4_ms-24k_voc0712.py \\
        --pretrained work_dirs/tobias/epoch_200.pth --data-root data/VOCdevkit/
    # any VOC-layout dataset with its own classes, random init, short CPU run
    python tools/det_train.py \\
        configs/benchmarks/mmdetection/voc-layout/faster-rcnn_r50_fpn_custom.py \\
        --pretrained none --data-root /tmp/kangaroo_voc --max-iters 300 --short-side 320

The config's protocol is kept per image on any number of processes: its lr is set for
the reference total batch ``auto_scale_lr.base_batch_size`` (16 = 8 GPUs x 2 images in
the papers); the lr scales linearly to the actual total batch (processes x
``train_dataloader.batch_size``, MMEngine's ``auto_scale_lr``), and the iterations, lr
steps and warm-up scale inversely, so that the same number of images is seen
(detectron2's ``SOLVER.REFERENCE_WORLD_SIZE``). One line at start states the result;
``--keep-schedule`` trains the config's numbers as written. ``--max-iters`` then sets
the length of the run, with the steps and warm-up at the same fractions of it.

The checkpoint (mmtobias / mmpretrain / mmselfsup, or the PyTorch MoCo / Tobias
``module.encoder_q.*`` release) is converted to the detector's keys in the work dir and
loaded through ``model.init_cfg`` (after the detector's own init); once the runner has
initialised the detector, the loaded tensors are compared with the converted ones.
Validation during training is off; the test set is evaluated once at the end, the
metrics and the load report are written to ``WORK_DIR/det_results.json`` and the last
line printed is ``AP50=.. AP=.. AP75=..`` (percent; AP is the mean over IoU .50:.95).
``--resume`` continues an interrupted run.
"""
import argparse
import json
import os
import os.path as osp
import warnings

import torch
from mmengine.config import Config, ConfigDict, DictAction
from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner

import mmtobias  # noqa: F401  (compatibility fixes + registration)
from mmtobias.det import check_against_model, compare_loaded, convert_checkpoint
from mmtobias.det.batch_norm import freeze_backbone_bn, precise_bn
from mmtobias.det.checkpoint_converter import load_state_dict
from mmtobias.utils import close_process_group

RANDOM_INIT = ('none', 'random', 'scratch')
# launcher -> the environment variable holding its number of processes
WORLD_SIZE_VARS = dict(pytorch='WORLD_SIZE', slurm='SLURM_NTASKS', mpi='OMPI_COMM_WORLD_SIZE')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Fine-tune and test a detector from a '
                                     'self-supervised checkpoint')
    parser.add_argument('config', help='mmdet config, e.g. configs/benchmarks/mmdetection/...')
    parser.add_argument('--pretrained', required=True,
                        help=f'self-supervised checkpoint, or one of {RANDOM_INIT} for a '
                        'randomly initialised detector')
    parser.add_argument('--data-root', help='dataset root (replaces every data_root)')
    parser.add_argument('--classes', nargs='+',
                        help='class names; default: DATA_ROOT/classes.txt if present, '
                        'else the config')
    parser.add_argument('--max-iters', type=int,
                        help='train this many iterations (after the scaling to the total '
                        'batch); lr steps and warm-up stay at the same fractions of the run')
    parser.add_argument('--keep-schedule', action='store_true',
                        help="train the config's lr, iterations, steps and warm-up as "
                        'written, whatever the total batch (default: scale them from the '
                        "config's reference total batch, auto_scale_lr.base_batch_size)")
    parser.add_argument('--short-side', type=int,
                        help='test-time shorter image side (800 in the protocol); training '
                        'scales shrink by the same factor')
    parser.add_argument('--norm', choices=['config', 'frozen'], default='config',
                        help="config: the config's norm layers (the protocol's SyncBN; "
                        'on one process, BN over its images); frozen: frozen backbone '
                        'BN with statistics re-estimated on the training images before '
                        'the first step, GroupNorm in the neck and heads (README '
                        '"Fine-tuning on fewer GPUs")')
    parser.add_argument('--frozen-bn-images', type=int, default=512, metavar='N',
                        help='with --norm frozen: images to re-estimate the frozen '
                        'statistics from (default 512; at most one pass over the '
                        'training set)')
    parser.add_argument('--precise-bn', type=int, default=0, metavar='N',
                        help='after the last iteration, recompute the statistics of the '
                        'BN layers that train on N training images (at most one pass; '
                        'precise BN, '
                        "mmpretrain's update_bn_stats); the test set is evaluated before "
                        'as well, recorded as metrics_running_bn (default 0: off)')
    parser.add_argument('--work-dir', help='default: work_dirs/<config name>')
    parser.add_argument('--resume', action='store_true',
                        help='resume from the latest checkpoint in the work dir')
    parser.add_argument('--seed', type=int, default=0, help='random seed (default 0)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, e.g. model.train_cfg.rcnn.sampler.num=64')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if args.max_iters is not None and args.max_iters < 1:
        parser.error(f'--max-iters must be >= 1, got {args.max_iters}')
    for opt in ('frozen_bn_images', 'precise_bn'):
        if getattr(args, opt) < 0 or (opt == 'frozen_bn_images' and getattr(args, opt) < 1):
            parser.error(f"--{opt.replace('_', '-')} must be a positive number of "
                         f'images, got {getattr(args, opt)}')
    if args.short_side is not None and args.short_side < 32:
        parser.error(f'--short-side must be >= 32 pixels, got {args.short_side}')
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def leaf_datasets(cfg):
    """Every dataset config of the train/val/test dataloaders (through wrappers)."""
    found = []

    def visit(ds):
        if isinstance(ds, dict):
            if 'datasets' in ds:
                for d in ds['datasets']:
                    visit(d)
            elif 'dataset' in ds:
                visit(ds['dataset'])
            else:
                found.append(ds)

    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if cfg.get(key):
            visit(cfg[key].get('dataset'))
    return found


def set_data_root(cfg, data_root):
    if not osp.isdir(data_root):
        raise ValueError(f'--data-root {data_root!r} is not a directory')
    data_root = osp.join(data_root, '')
    for ds in leaf_datasets(cfg):
        old = ds.get('data_root')
        ds['data_root'] = data_root
        for key in ('val_evaluator', 'test_evaluator'):  # COCO: ann_file = data_root + ...
            ev = cfg.get(key)
            if (isinstance(ev, dict) and old and isinstance(ev.get('ann_file'), str)
                    and ev['ann_file'].startswith(old)):
                ev['ann_file'] = data_root + ev['ann_file'][len(old):]


def set_classes(cfg, classes):
    classes = tuple(classes)
    if len(set(classes)) != len(classes):
        raise ValueError(f'--classes {classes} has duplicates')
    for ds in leaf_datasets(cfg):
        ds['metainfo'] = dict(ds.get('metainfo') or {}, classes=classes)
    roi_head = cfg.model.get('roi_head', {})
    for key in ('bbox_head', 'mask_head'):
        heads = roi_head.get(key)
        for head in (heads if isinstance(heads, list) else [heads]):
            if isinstance(head, dict) and 'num_classes' in head:
                head['num_classes'] = len(classes)


def launcher_world_size(launcher):
    """The number of processes ``launcher`` starts (1 without one), from its environment."""
    if launcher == 'none':
        return 1
    var = WORLD_SIZE_VARS[launcher]
    value = os.environ.get(var, '')
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f'--launcher {launcher} needs the number of processes in ${var}, '
                         f'got {value!r}: start det_train.py through the launcher (e.g. '
                         'python -m torch.distributed.run, or tools/benchmarks/mmdetection/'
                         'dist_train_c4.sh)')
    return int(value)


def _train_iters(cfg, what):
    """``train_cfg.max_iters`` of an iteration-based config (ValueError otherwise)."""
    max_iters = cfg.train_cfg.get('max_iters')
    if cfg.train_cfg.get('type') != 'IterBasedTrainLoop' or not max_iters:
        raise ValueError(f'{what} needs an iteration-based config (train_cfg.type='
                         f"'IterBasedTrainLoop' with max_iters), got "
                         f'train_cfg={dict(cfg.train_cfg)}')
    return max_iters


def _schedulers(cfg):
    scheds = cfg.get('param_scheduler') or []
    return [scheds] if isinstance(scheds, dict) else scheds


def scale_schedule(cfg, factor, max_iters):
    """Multiply every iteration count of the schedule by ``factor``; the run gets
    ``max_iters`` iterations.

    The milestones, ``begin``, ``end`` (the warm-up's included) and ``T_max`` of every
    ``param_scheduler`` and ``train_cfg.val_interval`` are multiplied by ``factor`` and
    rounded (at least 1 iteration); a bound at or past the end of the run stays at its
    end. An ``end`` stays at least 2 past its ``begin``: MMEngine's schedulers step
    while ``begin <= iteration < end``, so a LinearLR warm-up with ``end = begin + 1``
    would never leave its start factor (lr x 0.001 for the whole run).
    """
    old = cfg.train_cfg.max_iters

    def scale(n):
        return max_iters if n >= old else max(1, round(n * factor))

    for i, sched in enumerate(_schedulers(cfg)):
        if sched.get('by_epoch', True):
            raise ValueError(
                f"param_scheduler[{i}] ({sched.get('type')}) is epoch-based (by_epoch "
                'defaults to True); an iteration-based schedule needs by_epoch=False in '
                'every param_scheduler')
        if 'milestones' in sched:
            sched['milestones'] = [scale(m) for m in sched['milestones']]
        for key in ('begin', 'end', 'T_max'):
            if sched.get(key):
                sched[key] = scale(sched[key])
        if sched.get('end'):
            sched['end'] = min(max(sched['end'], sched.get('begin', 0) + 2), max_iters)
    if cfg.train_cfg.get('val_interval'):
        cfg.train_cfg.val_interval = scale(cfg.train_cfg.val_interval)
    cfg.train_cfg.max_iters = max_iters


def reference_batch(cfg):
    """The total batch the config's lr and schedule are set for (images per iteration
    over all processes): ``auto_scale_lr.base_batch_size``."""
    ref = (cfg.get('auto_scale_lr') or {}).get('base_batch_size')
    if not isinstance(ref, int) or ref < 1:
        raise ValueError(
            f'{cfg.filename} states no reference total batch (auto_scale_lr.base_batch_size='
            f'{ref!r}): set auto_scale_lr = dict(enable=False, base_batch_size=N), N the '
            'total batch its lr and iterations are set for (16 in configs/benchmarks/'
            'mmdetection), or pass --keep-schedule to train them as written')
    return ref


def scale_to_batch(cfg, world_size):
    """Keep the config's protocol per image on ``world_size`` processes.

    With ``total = world_size x train_dataloader.batch_size`` and the config's
    reference total batch (:func:`reference_batch`), the lr is multiplied by
    ``total / reference`` by MMEngine (``auto_scale_lr.enable=True``: ``Runner.scale_lr``
    before the schedulers are built; nothing here touches the lr, so it is scaled
    once), and the iterations, lr steps and warm-up by ``reference / total``
    (:func:`scale_schedule`): the run sees the same images at the same lr per image.
    The checkpoint interval stays in iterations (capped at the run): it guards
    against interruptions, and an iteration takes about as long on any number of
    processes.

    Args:
        cfg (Config): an iteration-based detection config.
        world_size (int): the number of training processes.
    """
    ref = reference_batch(cfg)
    batch = cfg.train_dataloader.get('batch_size')
    if not isinstance(batch, int) or batch < 1:
        raise ValueError(f'train_dataloader.batch_size must be a positive int (images per '
                         f'process), got {batch!r}')
    old = _train_iters(cfg, 'scaling the schedule to the total batch (or --keep-schedule)')
    factor = ref / (world_size * batch)
    scale_schedule(cfg, factor, max(1, round(old * factor)))
    cfg.auto_scale_lr.enable = True
    ckpt = cfg.default_hooks.get('checkpoint')
    if ckpt is not None and ckpt.get('interval'):
        ckpt['interval'] = min(ckpt['interval'], cfg.train_cfg.max_iters)


def set_max_iters(cfg, max_iters):
    """Train ``max_iters`` iterations, with the lr steps and the warm-up at the same
    fractions of the run (:func:`scale_schedule`)."""
    old = _train_iters(cfg, '--max-iters')
    scale_schedule(cfg, max_iters / old, max_iters)
    ckpt = cfg.default_hooks.get('checkpoint')
    if ckpt is not None:
        ckpt['interval'] = min(ckpt.get('interval', max_iters), max_iters)
    logger = cfg.default_hooks.get('logger')
    if logger is not None:
        logger['interval'] = min(logger.get('interval', 50), max(1, max_iters // 10))


def describe_protocol(cfg, world_size):
    """What the run does per iteration, as ``det_results.json`` records it: processes,
    images per process and in total, the reference total batch, the lr after warm-up
    (and the config's), iterations, lr steps and warm-up iterations."""
    batch = cfg.train_dataloader.get('batch_size')
    scaling = cfg.get('auto_scale_lr') or {}
    ref = scaling.get('base_batch_size')
    config_lr = cfg.optim_wrapper.get('optimizer', {}).get('lr')
    lr = config_lr
    if scaling.get('enable') and config_lr is not None:
        lr = config_lr * world_size * batch / ref  # as Runner.scale_lr computes it
    steps, warmup = [], 0
    for sched in _schedulers(cfg):
        steps += list(sched.get('milestones', []))
        if sched.get('type') == 'LinearLR' and not sched.get('begin'):
            warmup = sched.get('end', 0)
    return dict(processes=world_size, images_per_process=batch, total_batch=world_size * batch,
                reference_batch=ref, scaled=bool(scaling.get('enable')), lr=lr,
                config_lr=config_lr, max_iters=cfg.train_cfg.get('max_iters'), steps=steps,
                warmup_iters=warmup)


def protocol_line(p):
    """``protocol: 1 processes x 2 images = 2 images/iteration (reference 16): lr ...``."""
    ref = p['reference_batch'] or 'not stated'
    head = (f"protocol: {p['processes']} processes x {p['images_per_process']} images = "
            f"{p['total_batch']} images/iteration (reference {ref}): ")
    lr = f"lr {p['lr']:g} (config {p['config_lr']:g} at {p['reference_batch']})" \
        if p['scaled'] else f"as written (--keep-schedule): lr {p['config_lr']:g}"
    return (f"{head}{lr}, {p['max_iters']} iterations, steps {p['steps']}, "
            f"warm-up {p['warmup_iters']} iterations")


def set_short_side(cfg, short_side):
    """Shrink every resize so that testing runs at ``short_side`` (train scales alike)."""
    ref = None
    for ds in leaf_datasets(cfg):
        for t in ds.get('pipeline', []):
            if t.get('type') == 'Resize' and isinstance(t.get('scale'), (tuple, list)):
                ref = ref or min(t['scale'])
    if ref is None:
        raise ValueError('--short-side needs a test pipeline with Resize(scale=(long, short))')
    f = short_side / ref

    def shrink(scale):
        return tuple(max(1, round(s * f)) for s in scale)

    for ds in leaf_datasets(cfg):
        for t in ds.get('pipeline', []):
            if t.get('type') == 'Resize' and isinstance(t.get('scale'), (tuple, list)):
                t['scale'] = shrink(t['scale'])
            elif t.get('type') == 'RandomChoiceResize':
                t['scales'] = [shrink(s) for s in t['scales']]


def syncbn_to_bn(node):
    """SyncBN -> BN in a config tree (torch's SyncBatchNorm has no CPU implementation)."""
    if isinstance(node, dict):
        if node.get('type') == 'SyncBN':
            node['type'] = 'BN'
        for v in node.values():
            syncbn_to_bn(v)
    elif isinstance(node, list):
        for v in node:
            syncbn_to_bn(v)


def detector_arch(cfg):
    roi_head = cfg.model.get('roi_head') or {}
    if roi_head.get('shared_head'):
        return 'c4'
    if cfg.model.get('neck'):
        return 'fpn'
    raise ValueError(f'cannot tell C4 from FPN in {cfg.filename}: expected '
                     'model.roi_head.shared_head (C4) or model.neck (FPN)')


def build_cfg(args, world_size=None):
    """The run's config from the command line.

    Args:
        args (argparse.Namespace): from :func:`parse_args`.
        world_size (int, optional): the number of training processes; by default read
            from the launcher's environment (:func:`launcher_world_size`).

    Returns:
        tuple[Config, dict | None, dict]: the config, the conversion report (None for
        a random initialisation) and the protocol (:func:`describe_protocol`).
    """
    if world_size is None:
        world_size = launcher_world_size(args.launcher)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    cfg.launcher = args.launcher
    cfg.work_dir = args.work_dir or cfg.get('work_dir') or osp.join(
        'work_dirs', osp.splitext(osp.basename(args.config))[0])
    cfg.resume = args.resume
    cfg.load_from = None
    cfg.randomness = dict(seed=args.seed)
    if args.data_root:
        set_data_root(cfg, args.data_root)
    classes = args.classes
    classes_txt = osp.join(args.data_root or '', 'classes.txt')
    if classes is None and args.data_root and osp.isfile(classes_txt):
        with open(classes_txt) as f:
            classes = [line.strip() for line in f if line.strip()]
    if classes:
        set_classes(cfg, classes)
    # first the protocol per image at this total batch, then the run's length
    if args.keep_schedule:
        if cfg.get('auto_scale_lr'):
            cfg.auto_scale_lr.enable = False
    else:
        scale_to_batch(cfg, world_size)
    if args.max_iters:
        set_max_iters(cfg, args.max_iters)
    if args.short_side:
        set_short_side(cfg, args.short_side)
    # one evaluation, on the test set, after training
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    if args.norm == 'frozen':
        changed = freeze_backbone_bn(cfg.model)
        cfg.custom_hooks = list(cfg.get('custom_hooks') or []) + [
            dict(type='FrozenBNStatsHook', num_samples=args.frozen_bn_images)]
        print(f"--norm frozen: frozen BN in {', '.join(changed['frozen'])}; GroupNorm in "
              f"{', '.join(changed['group_norm']) or 'no other part'}")
    if args.launcher != 'none' and not torch.cuda.is_available():
        warnings.warn('SyncBN has no CPU implementation in torch: on CPU the processes use '
                      'BN with per-process statistics')
        syncbn_to_bn(cfg.model)
    report = None
    if args.pretrained.lower() not in RANDOM_INIT:
        os.makedirs(cfg.work_dir, exist_ok=True)
        arch = detector_arch(cfg)
        dst = osp.join(cfg.work_dir, f'pretrained_{arch}.pth')
        report = dict(convert_checkpoint(args.pretrained, dst, arch), source=args.pretrained,
                      converted=dst)
        cfg.model.init_cfg = ConfigDict(type='Pretrained', checkpoint=dst)
    return cfg, report, describe_protocol(cfg, world_size)


def _by_prefix(keys, depth=3):
    """``{'backbone.layer1.0': 12, ...}``: how many keys under each dotted prefix."""
    counts = {}
    for k in keys:
        prefix = '.'.join(k.split('.')[:depth])
        counts[prefix] = counts.get(prefix, 0) + 1
    return dict(sorted(counts.items()))


def check_init(runner, report):
    """Fail early if converted weights do not fit the detector; log what is covered.

    The keys are checked here, before the runner initialises the detector; the
    values, once it has (:class:`LoadedValuesCheck`).

    Returns:
        dict | None: what the checkpoint initialises, for ``det_results.json``:
        ``loaded`` (detector tensors with a checkpoint value, counted per
        prefix), ``missing`` (the detector tensors without one, by name) and
        ``unexpected`` (checkpoint keys the detector lacks). None for a random
        initialisation.
    """
    if report is None:
        runner.logger.info('random initialisation (--pretrained none)')
        return None
    model = runner.model.module if is_model_wrapper(runner.model) else runner.model
    state = load_state_dict(report['converted'])
    missing, unexpected, mismatched = check_against_model(state, model)
    if unexpected or mismatched:
        raise ValueError(
            f"{report['source']} does not fit {runner.cfg.filename}: keys the detector "
            f'lacks {unexpected[:5]}, shape mismatches {mismatched[:5]}. Use a ResNet-50 '
            'checkpoint and a config of the matching layout (C4 / FPN)')
    runner.logger.info(
        f"initialising {len(state)} tensors from {report['source']} ({report['format']} "
        f'format); {len(missing)} detector tensors keep their random init '
        f'(e.g. {missing[:3]})')
    loaded = [k for k in state if not k.endswith('num_batches_tracked')]
    return dict(source=report['source'], format=report['format'],
                loaded=_by_prefix(loaded), missing=missing,
                unexpected=unexpected)


class LoadedValuesCheck(Hook):
    """Compare the detector's tensors with the converted checkpoint once the runner has
    initialised the detector and loaded the checkpoint into it.

    ``Runner.train()`` runs ``init_weights()`` (which applies ``model.init_cfg``, the
    checkpoint) and ``load_or_resume()`` before ``before_train``; at the lowest
    priority this hook sees what every other ``before_train`` hook left, i.e. the
    weights of the first step. ``result`` is :func:`mmtobias.det.compare_loaded`'s
    report, or ``skipped`` with the reason for a resumed run (its weights are the
    last checkpoint's).

    Args:
        checkpoint (str): the converted checkpoint.
    """

    priority = 'LOWEST'

    def __init__(self, checkpoint):
        self.checkpoint = checkpoint
        self.result = None

    def before_train(self, runner):
        if runner.iter > 0:
            self.result = dict(skipped=f'resumed at iteration {runner.iter}')
            return
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        self.result = compare_loaded(load_state_dict(self.checkpoint), model)
        n, differ = self.result['compared'], self.result['differ']
        if differ:
            runner.logger.warning(
                f'{len(differ)} of the {n} tensors loaded from {self.checkpoint} no longer '
                f"hold the checkpoint's values when training starts (max abs difference "
                f"{self.result['max_abs_diff']:.3g}), e.g. {differ[:5]}: something "
                'initialised them after loading')
        else:
            runner.logger.info(f"the {n} loaded tensors equal the checkpoint's")


def summary_line(metrics):
    """``AP50=.. AP=.. AP75=..`` in percent from VOC or COCO metric keys."""
    def find(*suffixes):
        for s in suffixes:
            for k, v in metrics.items():
                if k.endswith(s):
                    return 100 * float(v)
        return float('nan')

    ap50 = find('/AP50', '/bbox_mAP_50')
    ap = find('pascal_voc/mAP', '/bbox_mAP')
    ap75 = find('/AP75', '/bbox_mAP_75')
    return f'AP50={ap50:.2f} AP={ap:.2f} AP75={ap75:.2f}'


def ap_vs_iou(metrics):
    """``{iou: mAP}`` (fractions) from the IoU-sweep keys (AP10 ... / bbox_mAP_10 ...)."""
    curve = {}
    for k, v in metrics.items():
        name = k.split('/')[-1]
        for head in ('AP', 'bbox_mAP_'):
            tail = name[len(head):]
            if name.startswith(head) and tail.isdigit() and int(tail) % 10 == 0:
                curve[int(tail) / 100] = float(v)
    return dict(sorted(curve.items()))


def main(argv=None):
    args = parse_args(argv)
    cfg, report, protocol = build_cfg(args)
    runner = Runner.from_cfg(cfg)
    if runner.world_size != protocol['processes']:
        raise RuntimeError(f"the schedule was scaled for {protocol['processes']} processes "
                           f'but the runner has {runner.world_size}')
    runner.logger.info(protocol_line(protocol))
    init = check_init(runner, report)
    values = None
    if report is not None:
        values = LoadedValuesCheck(report['converted'])
        runner.register_hook(values)
    runner.train()
    if init is not None:
        init['values'] = values.result
    norm = dict(mode=args.norm, precise_bn_images=args.precise_bn)
    running = None
    if args.precise_bn:
        # the running statistics' result first, then precise BN (Wu & Johnson 2021)
        running = runner.test()
        runner.logger.info('with the running BN statistics: ' + summary_line(running))
        norm['precise_bn_layers'] = precise_bn(runner, args.precise_bn)
    metrics = runner.test()
    line = summary_line(metrics)
    if is_main_process():
        result = dict(config=args.config, pretrained=args.pretrained,
                      max_iters=cfg.train_cfg.max_iters, protocol=protocol, init=init,
                      norm=norm, metrics=metrics, ap_vs_iou=ap_vs_iou(metrics), summary=line)
        if running is not None:
            result.update(metrics_running_bn=running,
                          ap_vs_iou_running_bn=ap_vs_iou(running))
        path = osp.join(cfg.work_dir, 'det_results.json')
        with open(path + '.tmp', 'w') as f:
            json.dump(result, f, indent=2)
        os.replace(path + '.tmp', path)
        curve = result['ap_vs_iou']
        if curve:
            print('mAP vs IoU: ' + ' '.join(f'{t:.1f}:{100 * v:.1f}' for t, v in curve.items()))
        print(line, flush=True)
    return metrics


if __name__ == '__main__':
    main()
    close_process_group()  # after success only: see mmtobias.utils.process_group
