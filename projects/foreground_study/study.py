# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""Does foreground-aware pretraining help at this machine's scale? A resumable study.

For every (method, seed): pretrain on an unlabeled image folder (labels ignored), then
evaluate the learned backbone with

- kNN (k=20) and a linear probe on frozen features of a labelled train/val pair,
- SCDA CorLoc on a box dataset (does pretraining keep "seeing objects"?),
- background sensitivity on box datasets (kangaroo, cards): the cosine similarity
  of pooled features when the background or the objects are replaced
  (``tools/background_sensitivity.py``; ``medium`` and ``smoke`` budgets),
- Faster R-CNN FPN (same backbone) fine-tuned on a VOC-layout detection set:
  AP50, AP, AP75 and AP at IoU 0.1 ... 0.9 (``det_finetunes`` fine-tunes per
  backbone, each with its own seed, so that fine-tuning noise is seen apart from
  pretraining noise; fine-tune k of every backbone has the seed ``seed + 1000 k``, so
  backbones are compared pair by pair),

and, during pretraining, the ``KNNMonitor`` hook's kNN accuracy on a subset of the
probe folders (``medium`` and ``smoke``), which becomes the learning curve
``knn_curve`` of the row,

and write one JSON row per run to ``OUT/BUDGET/rows/METHOD_seedS.json``. Every stage
writes its own result file atomically; re-running skips finished stages and resumes an
interrupted pretraining from its last checkpoint (``tools/train.py --resume``), so the
study can be completed across several sittings. ``--report`` aggregates the rows into a
markdown table (mean ± spread over seeds) and PNG plots; ``--report --publish`` copies
the rows into ``projects/foreground_study/results/study_BUDGET_rows/``, the rows the
repository keeps, and
the kNN curve and AP-vs-IoU plot beside them. Those
committed rows join every report, and a run whose committed row already has every
wanted stage is not run again, so a fresh checkout (whose ``work_dirs`` is empty)
goes on with the runs that are missing. Checkpoints are not committed: a detection
fine-tune of a committed run whose checkpoint is gone pretrains it again.
The ``random_init`` backbone is the MoCo v2 run's own start at the same seed: its model
after the Runner's init, before the first step (``tools/initial_checkpoint.py``).

Example (the defaults use ../shared/data beside the repository)::

    python projects/foreground_study/study.py --budget small --seeds 0 1
    python projects/foreground_study/study.py --budget small --report
    python projects/foreground_study/study.py --budget medium          # its methods, seeds 0-2
    python projects/foreground_study/study.py --budget medium --report  # + knn_curve.png
    python projects/foreground_study/study.py --budget medium --report --publish  # -> results/

Budgets (ResNet-18 backbone, chosen so that one pretraining run stays near its target
wall time on a 2-core CPU; see this project's README.md):

    smoke  2 iterations, tiny evaluation subsets: checks the pipeline end to end
    small  4 epochs at 96 px, detection 200 iterations at 288 px: measured on an idle
           2-core CPU, 5-6 min of pretraining and ~10 min for the whole run
    medium 20 epochs at 64 px with the kNN monitor every epoch (1,000 / 500 images),
           background sensitivity at 64 px, 2 detection fine-tunes of 200 iterations
           at 256 px per backbone; methods random init, MoCo v2, Tobias p=0.3, random
           merge, copy-paste gray at seeds 0-2. Measured on the idle 2-core dev CPU
           (2026-12-02): 1.6-1.75 s per iteration (78 per epoch), i.e. about 45 min
           of pretraining per run, so the 9 runs of the three main methods alone
           take ~7 h (30 epochs, first planned, would have taken ~10 h)
    medium2 medium's pretraining with MoCo v2's blur scaled with the crop (sigma
           0.1-2 px is set for 224-px crops; 0.03-0.57 px at 64 px), detection at the
           fixed protocol: tools/det_train.py's lr per image (0.0025 at 2 images),
           5 epochs of cards (740 iterations) at short side 160 with 32 sampled
           RoIs per image (64 in the other budgets), 3 fine-tunes per
           backbone paired by seed across backbones, each tested with the running BN
           statistics and after precise BN; methods random init, MoCo v2, Tobias p0.3.
           --det-norm frozen / --det-lr add variants (detection_frozen, ... in the row)
    full   12 epochs at 112 px, detection 600 iterations at 384 px (not yet run;
           about 3x the epochs and 1.4x the pixels, so ~20-25 min of pretraining)
"""
import argparse
import json
import os
import os.path as osp
import re
import subprocess
import sys
import tempfile
import time

PROJECT = osp.dirname(osp.abspath(__file__))  # projects/foreground_study
REPO = osp.dirname(osp.dirname(PROJECT))
SHARED = osp.join(osp.dirname(REPO), 'shared', 'data')

# method -> (config, pipeline edits). All share the MoCo v2 model and schedule.
METHODS = {
    # the MoCo v2 run's own start (tools/initial_checkpoint.py): its backbone after the
    # Runner's init, before the first step, at the same seed; so the comparison
    # measures pretraining and nothing else (same init, same zero_init_residual)
    'random_init': dict(config='configs/mocov2_r50.py', initial=True),
    'mocov2': dict(config='configs/mocov2_r50.py'),
    'tobias_p0.3': dict(config='configs/mocov2_tobias_r50.py', swap_prob=0.3),
    'tobias_p0.5': dict(config='configs/mocov2_tobias_r50.py', swap_prob=0.5),
    'random_merge': dict(config='configs/mocov2_rm_r50.py'),
    'copypaste_gray': dict(config='configs/mocov2_copypaste_r50.py'),
    # InsLoc R-C4: composites of bg_size = the study's input size, paste sizes scaled
    # from the paper's (128, 255) at 256 px; RoIAlign on res4, res5 (layer4) as head.
    'insloc_c4': dict(config='configs/insloc_r50-c4.py'),
    # DenseCL (mmpretrain's model and views) and DenseCL + Tobias (issue #27): defined,
    # not yet run in any budget; compare them with each other (their own start is not
    # `random_init`, which is MoCo v2's)
    'densecl': dict(config='configs/densecl/densecl_r50.py'),
    'densecl_tobias_p0.3': dict(config='configs/densecl/densecl_tobias_r50.py', swap_prob=0.3),
}
# the methods of the `small` budget (its committed rows), the default of --methods there
SMALL_METHODS = ['random_init', 'mocov2', 'tobias_p0.3', 'tobias_p0.5', 'random_merge',
                 'copypaste_gray', 'insloc_c4']

BUDGETS = {
    # epochs, input size, batch, eval subset (None = all), det iterations, det short side;
    # optional: det_finetunes (fine-tunes per backbone, default 1), knn (KNNMonitor
    # settings; no monitor without it), bg_size (background-sensitivity input size;
    # not run without it), methods and seeds (the defaults of --methods / --seeds)
    'smoke': dict(epochs=1, max_iters=2, size=64, batch=8, eval_limit=40, det_iters=2,
                  det_side=256, det_finetunes=2, bg_size=64,
                  knn=dict(interval=1, max_train_images=40, max_val_images=40)),
    'small': dict(epochs=4, max_iters=None, size=96, batch=64, eval_limit=None,
                  det_iters=200, det_side=288, methods=SMALL_METHODS),
    'medium': dict(epochs=20, max_iters=None, size=64, batch=64, eval_limit=None,
                   det_iters=200, det_side=256, det_finetunes=2, bg_size=64,
                   knn=dict(interval=1, max_train_images=1000, max_val_images=500),
                   methods=['random_init', 'mocov2', 'tobias_p0.3', 'random_merge',
                            'copypaste_gray'],
                   seeds=[0, 1, 2]),
    # medium's pretraining with MoCo v2's blur scaled with the crop (sigma 0.1-2 px is
    # for 224-px crops: 0.03-0.57 px at 64 px), and detection at the protocol per
    # image (tools/det_train.py; lr 0.0025 at 2 images unless det_lr) for det_epochs
    # epochs of cards at short side 160, det_finetunes fine-tunes paired by seed, each
    # tested with the running BN statistics and after precise BN on 512 images (at
    # most one pass); 32 sampled RoIs per image: with 64, an iteration took 2.1 s on the
    # idle 2-core CPU (the 4-conv box head on 128 RoIs), 29 min per fine-tune
    'medium2': dict(epochs=20, max_iters=None, size=64, batch=64, eval_limit=None,
                    scale_blur=True, det_epochs=5, det_side=160, det_finetunes=3,
                    det_precise_bn=512, det_rois=32, bg_size=64,
                    knn=dict(interval=1, max_train_images=1000, max_val_images=500),
                    methods=['random_init', 'mocov2', 'tobias_p0.3'], seeds=[0, 1, 2]),
    'full': dict(epochs=12, max_iters=None, size=112, batch=64, eval_limit=None,
                 det_iters=600, det_side=384),
}

# background-sensitivity datasets: name -> (images, annotations) under the shared data
BG_DATASETS = {'kangaroo': ('kangaroo/images', 'kangaroo/annots'),
               'cards': ('cards/test', 'cards/test')}


def atomic_json(path, obj):
    os.makedirs(osp.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=osp.dirname(path), suffix='.tmp')
    with os.fdopen(fd, 'w') as f:
        json.dump(obj, f, indent=1, sort_keys=True)
    os.replace(tmp, path)


def load_json(path):
    with open(path) as f:
        return json.load(f)


def run(cmd, log_path):
    """Run a command, tee its output to ``log_path``; raise with the log's tail on failure."""
    os.makedirs(osp.dirname(log_path), exist_ok=True)
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get('PYTHONPATH', ''))
    with open(log_path, 'a') as log:
        log.write('\n$ ' + ' '.join(cmd) + '\n')
        log.flush()
        proc = subprocess.run(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        with open(log_path) as f:
            tail = f.read()[-3000:]
        raise RuntimeError(f'command failed ({proc.returncode}): {" ".join(cmd)}\n'
                           f'--- last lines of {log_path} ---\n{tail}')
    with open(log_path) as f:
        return f.read()


def _walk(obj, fn):
    """Apply ``fn`` to every dict inside nested lists/dicts (in place)."""
    if isinstance(obj, dict):
        fn(obj)
        for v in obj.values():
            _walk(v, fn)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            _walk(v, fn)


def derive_pretrain_config(method, budget, seed, data_root, mask_file, out_path,
                           knn_roots=None):
    """Write the run's config: the method's config at the study's scale, with the
    ``KNNMonitor`` on ``knn_roots`` = (train folder, val folder) when the budget has
    ``knn`` settings."""
    from mmengine.config import Config

    spec, b = METHODS[method], BUDGETS[budget]
    cfg = Config.fromfile(osp.join(REPO, spec['config']))
    cfg.model.backbone.depth = 18
    cfg.model.neck.in_channels = 512
    cfg.model.neck.hid_channels = 512
    # 5,000 images: a 65,536 queue would hold many stale copies of every image
    cfg.model.queue_len = 4096

    def edit(d):
        if d.get('type') == 'RandomResizedCrop':
            d['scale'] = b['size']
        if d.get('type') == 'GaussianBlur' and b.get('scale_blur'):
            # the view pipelines' blur radius (Pillow sigma, px) is for 224-px crops
            d['magnitude_range'] = tuple(round(r * b['size'] / 224, 4)
                                         for r in d['magnitude_range'])
        if 'mask_file' in d:
            d['mask_file'] = mask_file
        if d.get('type') == 'BackgroundSwap' and 'swap_prob' in spec:
            d['prob'] = spec['swap_prob']
        if d.get('type') == 'InsLocComposite':
            lo, hi = d.get('paste_size_range', (128, 255))
            scale = b['size'] / d.get('bg_size', 256)
            d['bg_size'] = b['size']
            d['paste_size_range'] = (max(1, round(lo * scale)), min(b['size'], round(hi * scale)))

    for key in list(cfg.keys()):  # the dataloader, the hooks, and the configs' copies
        _walk(cfg[key], edit)       # (train_pipeline, view_pipeline) kept for the record
    if 'mask_file' in cfg:
        cfg.mask_file = mask_file
    cfg.train_dataloader.dataset.data_root = data_root
    cfg.train_dataloader.batch_size = b['batch']
    cfg.train_dataloader.num_workers = 2
    cfg.train_dataloader.persistent_workers = True
    # lr 0.06 at batch 64 (0.24 at 256): between MoCo v2's 0.03 and the Tobias paper's
    # 0.3 for ImageNet subsets; short schedules want the larger value.
    cfg.optim_wrapper.optimizer.lr = 0.06 * b['batch'] / 64
    cfg.train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=b['epochs'])
    if b['max_iters']:
        cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=b['max_iters'])
        cfg.param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=False)]
        cfg.default_hooks.checkpoint = dict(
            type='CheckpointHook', interval=b['max_iters'], by_epoch=False)
    else:
        cfg.param_scheduler = [dict(type='CosineAnnealingLR', T_max=b['epochs'],
                                    by_epoch=True, begin=0, end=b['epochs'])]
        cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1,
                                            max_keep_ckpts=2)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=10)
    # one process on a CPU: a channels-last step is 1.28x faster, a whole run ~1.1x
    # (ChannelsLastHook's docstring); the small rows were made before it, NCHW
    cfg.custom_hooks = list(cfg.get('custom_hooks', [])) + [dict(type='ChannelsLastHook')]
    if b.get('knn') and knn_roots:
        # the learning curve: the query backbone's kNN top-1 from the initial weights
        # (step 0) on, every `interval` epochs (iterations for an iteration budget)
        cfg.custom_hooks.append(dict(
            type='KNNMonitor', train_root=knn_roots[0], val_root=knn_roots[1],
            image_size=b['size'], batch_size=64, num_workers=2,
            by_epoch=not b['max_iters'], evaluate_at_start=True, **b['knn']))
    cfg.randomness = dict(seed=seed, deterministic=False)
    cfg.dump(out_path)
    return cfg


def knn_curve(work_dir):
    """``[[step, knn top-1], ...]`` logged by the KNNMonitor under ``work_dir``
    (every ``*/vis_data/scalars.json``; a resumed run's later value of a step wins)."""
    import glob
    points = {}
    for path in sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))):
        with open(path) as f:
            for line in f:
                row = json.loads(line)
                if 'knn/top1' in row:
                    points[int(row['step'])] = float(row['knn/top1'])
    return [[step, points[step]] for step in sorted(points)]


def final_checkpoint(work_dir, budget):
    b = BUDGETS[budget]
    name = f'iter_{b["max_iters"]}.pth' if b['max_iters'] else f'epoch_{b["epochs"]}.pth'
    return osp.join(work_dir, name)


def stage_pretrain(method, budget, seed, run_dir, args):
    """Pretrain (or resume); returns the final checkpoint. For random init (``initial``
    methods) the checkpoint is the run's initial weights, written by
    ``tools/initial_checkpoint.py`` from the same derived config."""
    initial = METHODS[method].get('initial', False)
    work_dir = osp.join(run_dir, 'pretrain')
    ckpt = osp.join(work_dir, 'initial.pth') if initial else final_checkpoint(work_dir, budget)
    done = osp.join(run_dir, 'pretrain.json')
    if osp.exists(done) and osp.exists(ckpt):
        return ckpt
    cfg_path = osp.join(run_dir, 'pretrain_config.py')
    mask_file = osp.join(args.out, 'masks', 'train.tmask')
    derive_pretrain_config(method, budget, seed, args.train_images, mask_file, cfg_path,
                           knn_roots=(args.probe_train, args.probe_val))
    if initial:
        cmd = [sys.executable, 'tools/initial_checkpoint.py', cfg_path, ckpt, '--work-dir',
               work_dir]
    else:
        cmd = [sys.executable, 'tools/train.py', cfg_path, '--work-dir', work_dir]
        if args.amp:
            cmd.append('--amp')
        if osp.exists(osp.join(work_dir, 'last_checkpoint')):
            cmd.append('--resume')
    start = time.time()
    run(cmd, osp.join(run_dir, 'pretrain.log'))
    if not osp.exists(ckpt):
        raise RuntimeError(f'pretraining finished without {ckpt}')
    prev = load_json(done)['seconds'] if osp.exists(done) else 0.0
    atomic_json(done, dict(seconds=prev + time.time() - start, checkpoint=ckpt))
    return ckpt


def build_backbone(ckpt, seed):
    """ResNet-18 with the checkpoint's ``backbone.*`` weights (mmpretrain's default
    init if None; the study's random init is a checkpoint, see ``METHODS``)."""
    import torch
    from mmengine.logging import MMLogger
    from mmpretrain.registry import MODELS

    torch.manual_seed(seed)
    backbone = MODELS.build(dict(type='ResNet', depth=18))
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel('WARNING')  # init_weights logs one line per parameter
    backbone.init_weights()
    logger.setLevel(level)
    if ckpt is not None:
        state = torch.load(ckpt, map_location='cpu')['state_dict']
        state = {k[len('backbone.'):]: v for k, v in state.items() if k.startswith('backbone.')}
        missing, unexpected = backbone.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise RuntimeError(f'{ckpt}: backbone keys do not match ResNet-18 '
                               f'(missing {missing[:3]}, unexpected {unexpected[:3]})')
    backbone.eval()  # mmpretrain's ResNet.train() returns None: do not chain
    return backbone


def export_backbone(ckpt, seed, path):
    """Write a checkpoint with only ``backbone.*`` (for CorLoc and detection).

    An existing one made without a checkpoint while there is one now (a random-init
    run directory from before random init was the MoCo v2 run's start) is refused:
    the stage results beside it were measured on other weights."""
    import torch
    if osp.exists(path):
        source = torch.load(path, map_location='cpu', weights_only=True)['meta']['source']
        if (source == 'random init') != (ckpt is None):
            raise RuntimeError(f'{path} was exported from {source!r}, not {ckpt!r}: the '
                               f'results in {osp.dirname(path)} are stale; delete that '
                               'folder to run it again')
    else:
        backbone = build_backbone(ckpt, seed)
        state = {f'backbone.{k}': v for k, v in backbone.state_dict().items()}
        fd, tmp = tempfile.mkstemp(dir=osp.dirname(path), suffix='.tmp')
        os.close(fd)
        torch.save(dict(state_dict=state, meta=dict(source=ckpt or 'random init')), tmp)
        os.replace(tmp, path)
    return path


def stage_probes(ckpt, budget, seed, run_dir, args):
    out = osp.join(run_dir, 'probes.json')
    if osp.exists(out):
        return load_json(out)
    import numpy as np
    import torch

    from mmtobias.evaluation.probes import (extract_features, knn_accuracy,
                                            linear_probe_accuracy, list_labelled_images)
    b = BUDGETS[budget]
    torch.manual_seed(seed)
    backbone = build_backbone(ckpt, seed)
    start = time.time()
    splits = {}
    for split, root in (('train', args.probe_train), ('val', args.probe_val)):
        paths, labels, _ = list_labelled_images(root)
        if b['eval_limit']:
            keep = np.random.default_rng(0).permutation(len(paths))[:b['eval_limit']]
            paths, labels = [paths[i] for i in sorted(keep)], labels[sorted(keep)]
        feats = extract_features(backbone, paths, size=b['size'], num_workers=2)
        splits[split] = (feats, labels)
    (xtr, ytr), (xte, yte) = splits['train'], splits['val']
    result = dict(
        knn_top1=knn_accuracy(xtr, ytr, xte, yte, k=20),
        linear_top1=linear_probe_accuracy(xtr, ytr, xte, yte),
        probe_images=[len(ytr), len(yte)], probe_size=b['size'],
        seconds=time.time() - start)
    atomic_json(out, result)
    return result


def stage_corloc(backbone_ckpt, budget, seed, run_dir, args):
    out = osp.join(run_dir, 'corloc.json')
    if osp.exists(out):
        return load_json(out)
    # The SCDA protocol of SPEC section 5 (224 px, layer4 stride 1, > mean, largest
    # component) on the learned ResNet-18: one set of weights, so one pass, no seeds.
    cmd = [sys.executable, 'tools/eval_localization.py', '--images', args.box_images,
           '--annotations', args.box_annotations, '--config',
           'configs/scda_localization/scda_r50_kaiming_kangaroo.py',
           '--work-dir', osp.join(run_dir, 'corloc'), '--cfg-options',
           'model.backbone.depth=18', f'model.backbone.checkpoint={backbone_ckpt}',
           'model.seeds=None']
    start = time.time()
    log = run(cmd, osp.join(run_dir, 'corloc.log'))
    last = [ln for ln in log.splitlines() if ln.startswith('corloc=')][-1]
    result = dict(corloc=float(re.search(r'corloc=([\d.]+)', last).group(1)),
                  whole_image=float(re.search(r'whole_image=([\d.]+)', last).group(1)),
                  line=last, seconds=time.time() - start)
    atomic_json(out, result)
    return result


def stage_bg_sensitivity(backbone_ckpt, budget, seed, run_dir, args):
    """Background sensitivity of the backbone on each box dataset (one JSON each).
    The donors are drawn with seed 0 for every run, so that all backbones see the
    same composites."""
    b = BUDGETS[budget]
    result = {}
    for name, (images, annotations) in args.bg_datasets.items():
        out = osp.join(run_dir, f'bg_sensitivity_{name}.json')
        if not osp.exists(out):
            cmd = [sys.executable, 'tools/background_sensitivity.py', '--images', images,
                   '--annotations', annotations, '--checkpoint', backbone_ckpt,
                   '--depth', '18', '--size', str(b['bg_size']), '--seed', '0',
                   '--out', out]
            run(cmd, osp.join(run_dir, 'bg_sensitivity.log'))
        res = load_json(out)
        result[name] = {k: res[k] for k in ('bg_swap', 'fg_swap', 'bg_minus_fg',
                                            'images', 'size')}
    atomic_json(osp.join(run_dir, 'bg_sensitivity.json'), result)
    return result


def det_variant(args):
    """The fine-tune variant of this invocation: '' for the budget's protocol (the
    config's norm, the protocol's lr per image), else e.g. ``frozen``, ``lr0.01`` or
    ``frozen_lr0.01`` (``--det-norm``, ``--det-lr``)."""
    parts = []
    if args.det_norm != 'config':
        parts.append(args.det_norm)
    if args.det_lr is not None:
        parts.append(f'lr{args.det_lr:g}')
    return '_'.join(parts)


def stage_detection(backbone_ckpt, budget, seed, run_dir, args):
    """``det_finetunes`` fine-tunes of the backbone (seeds ``seed + 1000 k``); with
    one, its result; with several, their mean and each one under ``finetunes``."""
    b = BUDGETS[budget]
    for k in args.finetunes or range(b.get('det_finetunes', 1)):
        finetune_detection(backbone_ckpt, budget, seed, run_dir, args, k)
    return cached_detection(budget, run_dir, det_variant(args))


def cached_detection(budget, run_dir, variant=''):
    """The variant's fine-tunes that finished (of the budget's ``det_finetunes``): one
    as it is, several aggregated (:func:`aggregate_finetunes`); None without any."""
    runs = [load_json(p) for p in
            (osp.join(run_dir, finetune_name(k, variant) + '.json')
             for k in range(BUDGETS[budget].get('det_finetunes', 1))) if osp.exists(p)]
    return None if not runs else runs[0] if len(runs) == 1 else aggregate_finetunes(runs)


def detection_variants(run_dir):
    """The variants (other than the protocol's) with a finished fine-tune in run_dir."""
    import glob
    found = set()
    for path in glob.glob(osp.join(run_dir, 'detection*_*.json')):
        stem = osp.basename(path)[:-len('.json')]
        match = re.fullmatch(r'detection(?:_ft\d+)?_(.+)', stem)
        if match and not re.fullmatch(r'ft\d+', match.group(1)):
            found.add(match.group(1))
    return sorted(found)


def det_iterations(budget, args):
    """The fine-tune's iterations: the budget's ``det_iters``, or ``det_epochs`` passes
    over the detection training set at the config's 2 images per iteration."""
    b = BUDGETS[budget]
    if b.get('det_iters'):
        return b['det_iters']
    with open(osp.join(args.det_voc, 'ImageSets', 'Main', 'trainval.txt')) as f:
        images = sum(1 for line in f if line.strip())
    return -(-b['det_epochs'] * images // 2)


def aggregate_finetunes(runs):
    """Mean AP50 / AP / AP75 / AP-vs-IoU of several fine-tunes of one backbone,
    their spread (max - min) / 2, and the runs themselves."""
    keys = ('AP50', 'AP', 'AP75')
    out = {k: sum(r[k] for r in runs) / len(runs) for k in keys}
    out['finetune_spread'] = {k: (max(r[k] for r in runs) - min(r[k] for r in runs)) / 2
                              for k in keys}
    ious = sorted(set.intersection(*(set(r['ap_vs_iou']) for r in runs)), key=float)
    out['ap_vs_iou'] = {t: sum(r['ap_vs_iou'][t] for r in runs) / len(runs) for t in ious}
    out['seconds'] = sum(r['seconds'] for r in runs)
    out['finetunes'] = runs
    return out


def finetune_name(k, variant=''):
    """``detection``, ``detection_ft1``, ... (the protocol), ``detection_frozen``, ..."""
    name = 'detection' if k == 0 else f'detection_ft{k}'
    return f'{name}_{variant}' if variant else name


def finetune_detection(backbone_ckpt, budget, seed, run_dir, args, k=0):
    variant = det_variant(args)
    name = finetune_name(k, variant)
    out = osp.join(run_dir, f'{name}.json')
    if osp.exists(out):
        return load_json(out)
    b = BUDGETS[budget]
    seed = seed + 1000 * k
    work_dir = osp.join(run_dir, name)
    config = 'configs/benchmarks/mmdetection/voc-layout/faster-rcnn_r50_fpn_custom.py'
    cmd = [sys.executable, 'tools/det_train.py', config,
           '--pretrained', backbone_ckpt, '--data-root', args.det_voc, '--classes',
           *args.det_classes, '--max-iters', str(det_iterations(budget, args)),
           '--short-side', str(b['det_side']), '--work-dir', work_dir, '--seed', str(seed),
           '--norm', args.det_norm]
    if b.get('det_precise_bn'):
        cmd += ['--precise-bn', str(b['det_precise_bn'])]
    cmd += ['--cfg-options', 'model.backbone.depth=18',
            'model.neck.in_channels=[64,128,256,512]',
            # det_rois sampled RoIs per image (not 512) and 100 test proposals: the 4-conv
            # box head dominates a CPU step otherwise
            f'model.train_cfg.rcnn.sampler.num={b.get("det_rois", 64)}',
            'model.test_cfg.rpn.max_per_img=100']
    if args.det_lr is not None:
        # the config's lr is for its reference batch (16); det_train.py scales it to the
        # 2 images of one process, so the lr after warm-up is det_lr
        cmd.append(f'optim_wrapper.optimizer.lr={args.det_lr * 16 / 2:g}')
    if osp.exists(osp.join(work_dir, 'last_checkpoint')):
        cmd.append('--resume')
    start = time.time()
    log = run(cmd, osp.join(run_dir, f'{name}.log'))
    last = [ln for ln in log.splitlines() if ln.startswith('AP50=')][-1]
    result = {k: float(v) for k, v in re.findall(r'(AP\w*)=([\d.]+)', last)}
    det = load_json(osp.join(work_dir, 'det_results.json'))
    result.update(line=last, seconds=time.time() - start, seed=seed, norm=det.get('norm'),
                  protocol=det.get('protocol'),
                  ap_vs_iou={f'{float(t):.1f}': 100 * v for t, v in det['ap_vs_iou'].items()})
    if det.get('metrics_running_bn'):
        # the same fine-tune tested with its running BN statistics (before precise BN)
        line = [ln for ln in log.splitlines() if 'with the running BN statistics' in ln][-1]
        result['running_bn'] = {k: float(v) for k, v in re.findall(r'(AP\w*)=([\d.]+)', line)}
    atomic_json(out, result)
    return result


def cached_stage(name, budget, run_dir):
    """A stage's earlier result (None if it never finished): for detection the
    fine-tunes that finished, aggregated when there are several."""
    if name == 'detection':
        return cached_detection(budget, run_dir)
    path = osp.join(run_dir, f'{name}.json')
    return load_json(path) if osp.exists(path) else None


def committed_rows_dir(budget):
    """Where the rows of finished runs are kept in the repository (this project's README.md)."""
    return osp.join(PROJECT, 'results', f'study_{budget}_rows')


def stage_names(budget):
    names = ['probes', 'corloc']
    if BUDGETS[budget].get('bg_size'):
        names.append('bg_sensitivity')
    return names + ['detection']


def committed_row_covers(method, seed, args):
    """The committed row of (method, seed) when it already has every stage this
    invocation would run (so that a fresh checkout does not pretrain it again)."""
    path = osp.join(args.committed_rows, f'{method}_seed{seed}.json')
    if not osp.exists(path) or osp.exists(osp.join(args.out, args.budget, 'rows',
                                                   osp.basename(path))):
        return None
    row = load_json(path)
    wanted = [n for n in stage_names(args.budget) if n not in args.skip]
    return path if all(row.get(n) is not None for n in wanted) else None


def run_one(method, seed, args):
    """Run (or resume) every stage of one (method, seed) and rewrite its row.

    Each stage caches its own JSON, so the row is rebuilt from whatever has finished;
    ``--skip`` stages are not run here but their earlier results are kept. A run whose
    committed row (``--committed-rows``) already has every wanted stage is not run.
    """
    committed = committed_row_covers(method, seed, args)
    if committed:
        print(f'[study] {method} seed {seed}: finished, {committed} (delete it, or pass '
              '--committed-rows "", to run it again)', flush=True)
        return load_json(committed)
    run_dir = osp.join(args.out, args.budget, f'{method}_seed{seed}')
    row_path = osp.join(args.out, args.budget, 'rows', f'{method}_seed{seed}.json')
    print(f'[study] {method} seed {seed}: {run_dir}', flush=True)
    os.makedirs(run_dir, exist_ok=True)
    ckpt = stage_pretrain(method, args.budget, seed, run_dir, args)
    backbone_ckpt = export_backbone(ckpt, seed, osp.join(run_dir, 'backbone.pth'))
    row = dict(method=method, seed=seed, budget=args.budget,
               settings=BUDGETS[args.budget])
    if ckpt is not None and not METHODS[method].get('initial'):
        row['pretrain_seconds'] = load_json(osp.join(run_dir, 'pretrain.json'))['seconds']
        curve = knn_curve(osp.join(run_dir, 'pretrain'))
        if curve:
            row['knn_curve'] = curve
    funcs = dict(probes=stage_probes, corloc=stage_corloc,
                 bg_sensitivity=stage_bg_sensitivity, detection=stage_detection)
    for name in stage_names(args.budget):
        stage = funcs[name]
        if name in args.skip:
            cached = cached_stage(name, args.budget, run_dir)
            if cached is not None:
                row[name] = cached
            continue
        src = ckpt if name == 'probes' else backbone_ckpt
        result = stage(src, args.budget, seed, run_dir, args)
        if name == 'detection' and det_variant(args):  # the row's 'detection' is the
            result = cached_detection(args.budget, run_dir)  # protocol's fine-tunes
        row[name] = result
        print(f'[study] {method} seed {seed}: {name} {result}', flush=True)
    for variant in detection_variants(run_dir):  # --det-norm / --det-lr fine-tunes
        row[f'detection_{variant}'] = cached_detection(args.budget, run_dir, variant)
    atomic_json(row_path, row)
    return row


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--budget', choices=sorted(BUDGETS), default='small')
    p.add_argument('--methods', nargs='+', choices=sorted(METHODS), default=None,
                   help="default: the budget's methods (all for smoke / small / full)")
    p.add_argument('--seeds', nargs='+', type=int, default=None,
                   help="default: the budget's seeds (0 1 for smoke / small / full)")
    p.add_argument('--out', default=osp.join(REPO, 'work_dirs', 'study'))
    p.add_argument('--amp', action='store_true', help='bf16 autocast for pretraining')
    p.add_argument('--skip', nargs='*', default=[],
                   choices=['probes', 'corloc', 'bg_sensitivity', 'detection'])
    p.add_argument('--det-norm', choices=['config', 'frozen'], default='config',
                   help="detection fine-tunes' norm (tools/det_train.py --norm); other "
                   'than config, a variant: detection_frozen in the row')
    p.add_argument('--det-lr', type=float, default=None,
                   help='lr after warm-up at the 2 images of one process (default: the '
                   "protocol's, 0.0025); a variant: detection_lr0.01 in the row")
    p.add_argument('--finetunes', nargs='+', type=int, default=None, metavar='K',
                   help="which of the budget's detection fine-tunes to run (0-based, "
                   'seed + 1000 K; default all); the row keeps every one finished')
    p.add_argument('--report', action='store_true',
                   help='only aggregate finished rows (OUT/BUDGET/rows and the committed '
                   'rows)')
    p.add_argument('--publish', action='store_true',
                   help='with --report: write the rows into --committed-rows and '
                   'knn_curve.png beside it (study_BUDGET_knn_curve.png)')
    p.add_argument('--committed-rows', default=None, metavar='DIR',
                   help='rows of finished runs kept in the repository (default: '
                   'projects/foreground_study/results/study_BUDGET_rows; "" for none)')
    p.add_argument('--train-images', default=osp.join(SHARED, 'imagenette-5k', 'train'))
    p.add_argument('--probe-train', default=osp.join(SHARED, 'imagenette-5k', 'train'))
    p.add_argument('--probe-val', default=osp.join(SHARED, 'imagenette-5k', 'val'))
    p.add_argument('--box-images', default=osp.join(SHARED, 'kangaroo', 'images'))
    p.add_argument('--box-annotations', default=osp.join(SHARED, 'kangaroo', 'annots'))
    p.add_argument('--bg-data', nargs='+', default=None, metavar='NAME=IMAGES:ANNOTS',
                   help='background-sensitivity datasets (default: kangaroo and cards '
                   'test under ../shared/data)')
    p.add_argument('--det-voc', default=None,
                   help='VOC-layout detection set (default: ../shared/data/cards converted '
                   'into OUT/cards_voc with tools/dataset_converters)')
    p.add_argument('--det-classes', nargs='+',
                   default=['nine', 'ten', 'jack', 'queen', 'king', 'ace'])
    args = p.parse_args(argv)
    if args.publish and not (args.report and args.committed_rows != ''):
        p.error('--publish goes with --report and a --committed-rows folder')
    b = BUDGETS[args.budget]
    if args.committed_rows is None:
        args.committed_rows = committed_rows_dir(args.budget)
    if args.methods is None:
        args.methods = b.get('methods', list(METHODS))
    if args.seeds is None:
        args.seeds = b.get('seeds', [0, 1])
    if args.bg_data is None:
        args.bg_datasets = {k: tuple(osp.join(SHARED, rel) for rel in v)
                            for k, v in BG_DATASETS.items()}
    else:
        args.bg_datasets = {}
        for item in args.bg_data:
            name, sep, paths = item.partition('=')
            images, sep2, annots = paths.partition(':')
            if not (sep and sep2 and name and images and annots):
                p.error(f'--bg-data {item!r}: expected NAME=IMAGES:ANNOTATIONS')
            args.bg_datasets[name] = (images, annots)
    return args


def main(argv=None):
    args = parse_args(argv)
    args.out = osp.abspath(args.out)
    if args.report:
        sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
        from study_report import write_report
        budget_dir = osp.join(args.out, args.budget)
        extra = [args.committed_rows] if args.committed_rows else []
        rows = write_report(budget_dir, extra)
        if args.publish:
            publish(rows, budget_dir, args.budget, args.committed_rows)
        return
    if args.det_voc is None and 'detection' not in args.skip:
        args.det_voc = prepare_cards(args)
    failures = []
    for seed in args.seeds:
        for method in args.methods:
            try:
                run_one(method, seed, args)
            except Exception as e:  # keep going: one failed run must not stop the study
                failures.append((method, seed, str(e)))
                print(f'[study] {method} seed {seed} FAILED: {e}', flush=True)
    if failures:
        sys.exit(f'[study] {len(failures)} run(s) failed; re-run to retry them')


def publish(rows, budget_dir, budget, out):
    """Every aggregated row into ``out`` (the committed rows) and, beside it, the
    report's tables, ``study_BUDGET.md`` (which the committed rows must reproduce:
    ``tests/test_committed_tables.py``), the learning curve and the AP-vs-IoU curves,
    ``study_BUDGET_knn_curve.png`` and ``study_BUDGET_ap_vs_iou.png`` (``results/`` of
    this project by default; each file written atomically; a plot the report did not
    make is skipped)."""
    import shutil
    os.makedirs(out, exist_ok=True)
    for group in rows.values():
        for row in group:
            atomic_json(osp.join(out, f'{row["method"]}_seed{row["seed"]}.json'), row)
    beside = osp.dirname(osp.abspath(out))
    files = [('results.md', f'study_{budget}.md')] + [
        (f'{plot}.png', f'study_{budget}_{plot}.png') for plot in ('knn_curve', 'ap_vs_iou')]
    for name, dst_name in files:  # the report makes each plot only when it has data
        src, dst = osp.join(budget_dir, name), osp.join(beside, dst_name)
        if osp.exists(src):
            shutil.copyfile(src, dst + '.tmp')
            os.replace(dst + '.tmp', dst)
    print(f'[study] published {sum(map(len, rows.values()))} rows to {out}', flush=True)


def prepare_cards(args):
    """../shared/data/cards (XML beside images, train/ and test/) -> VOC layout, once."""
    out = osp.join(args.out, 'cards_voc')
    if not osp.exists(osp.join(out, 'ImageSets', 'Main', 'test.txt')):
        run([sys.executable, 'tools/dataset_converters/pairs_to_voc.py',
             osp.join(SHARED, 'cards'), out, '--classes', *args.det_classes],
            osp.join(args.out, 'cards_voc.log'))
    return out


if __name__ == '__main__':
    main()
