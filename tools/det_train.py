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

The checkpoint (mmtobias / mmpretrain / mmselfsup, or the PyTorch MoCo / Tobias
``module.encoder_q.*`` release) is converted to the detector's keys in the work dir and
loaded through ``model.init_cfg`` (after the detector's own init). Validation during
training is off; the test set is evaluated once at the end, the metrics are written to
``WORK_DIR/det_results.json`` and the last line printed is ``AP50=.. AP=.. AP75=..``
(percent; AP is the mean over IoU .50:.95). ``--resume`` continues an interrupted run.
"""
import argparse
import json
import os
import os.path as osp
import warnings

import torch
from mmengine.config import Config, ConfigDict, DictAction
from mmengine.dist import is_main_process
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner

import mmtobias  # noqa: F401  (compatibility fixes + registration)
from mmtobias.det import check_against_model, convert_checkpoint
from mmtobias.det.checkpoint_converter import load_state_dict

RANDOM_INIT = ('none', 'random', 'scratch')


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
                        help='train this many iterations; lr steps and warm-up scale along')
    parser.add_argument('--short-side', type=int,
                        help='test-time shorter image side (800 in the protocol); training '
                        'scales shrink by the same factor')
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


def set_max_iters(cfg, max_iters):
    old = cfg.train_cfg.get('max_iters')
    if cfg.train_cfg.get('type') != 'IterBasedTrainLoop' or not old:
        raise ValueError('--max-iters needs an iteration-based config (train_cfg.type='
                         f"'IterBasedTrainLoop'), got train_cfg={dict(cfg.train_cfg)}")
    cfg.train_cfg.max_iters = max_iters
    scale = max_iters / old
    for sched in cfg.get('param_scheduler') or []:
        if sched.get('type') == 'LinearLR':  # warm-up: at most a tenth of the run
            sched['end'] = max(1, min(sched.get('end', max_iters), max_iters // 10))
        else:
            if 'milestones' in sched:
                sched['milestones'] = [max(1, round(m * scale)) for m in sched['milestones']]
            if sched.get('end', 0) >= old:
                sched['end'] = max_iters
    ckpt = cfg.default_hooks.get('checkpoint')
    if ckpt is not None:
        ckpt['interval'] = min(ckpt.get('interval', max_iters), max_iters)
    logger = cfg.default_hooks.get('logger')
    if logger is not None:
        logger['interval'] = min(logger.get('interval', 50), max(1, max_iters // 10))


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


def build_cfg(args):
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
    if args.max_iters:
        set_max_iters(cfg, args.max_iters)
    if args.short_side:
        set_short_side(cfg, args.short_side)
    # one evaluation, on the test set, after training
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
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
    return cfg, report


def _by_prefix(keys, depth=3):
    """``{'backbone.layer1.0': 12, ...}``: how many keys under each dotted prefix."""
    counts = {}
    for k in keys:
        prefix = '.'.join(k.split('.')[:depth])
        counts[prefix] = counts.get(prefix, 0) + 1
    return dict(sorted(counts.items()))


def check_init(runner, report):
    """Fail early if converted weights do not fit the detector; log what is covered.

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
    cfg, report = build_cfg(args)
    runner = Runner.from_cfg(cfg)
    init = check_init(runner, report)
    runner.train()
    metrics = runner.test()
    line = summary_line(metrics)
    if is_main_process():
        result = dict(config=args.config, pretrained=args.pretrained,
                      max_iters=cfg.train_cfg.max_iters, init=init, metrics=metrics,
                      ap_vs_iou=ap_vs_iou(metrics), summary=line)
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
