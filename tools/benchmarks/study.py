# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""Does foreground-aware pretraining help at this machine's scale? A resumable study.

For every (method, seed): pretrain on an unlabeled image folder (labels ignored), then
evaluate the learned backbone with

- kNN (k=20) and a linear probe on frozen features of a labelled train/val pair,
- SCDA CorLoc on a box dataset (does pretraining keep "seeing objects"?),
- Faster R-CNN FPN (same backbone) fine-tuned on a VOC-layout detection set:
  AP50, AP, AP75 and AP at IoU 0.1 ... 0.9,

and write one JSON row per run to ``OUT/BUDGET/rows/METHOD_seedS.json``. Every stage
writes its own result file atomically; re-running skips finished stages and resumes an
interrupted pretraining from its last checkpoint (``tools/train.py --resume``), so the
study can be completed across several sittings. ``--report`` aggregates the rows into a
markdown table (mean ± spread over seeds) and PNG plots.

Example (the defaults use ../shared/data beside the repository)::

    python tools/benchmarks/study.py --budget small --seeds 0 1
    python tools/benchmarks/study.py --budget small --report

Budgets (ResNet-18 backbone, chosen so that one pretraining run stays near its target
wall time on a 2-core CPU; see README "Results"):

    smoke  2 iterations, tiny evaluation subsets: checks the pipeline end to end
    small  4 epochs at 96 px, detection 200 iterations at 288 px: measured on an idle
           2-core CPU, 5-6 min of pretraining and ~10 min for the whole run
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

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SHARED = osp.join(osp.dirname(REPO), 'shared', 'data')

# method -> (config, pipeline edits). All share the MoCo v2 model and schedule.
METHODS = {
    'random_init': dict(config=None),
    'mocov2': dict(config='configs/mocov2_r50.py'),
    'tobias_p0.3': dict(config='configs/mocov2_tobias_r50.py', swap_prob=0.3),
    'tobias_p0.5': dict(config='configs/mocov2_tobias_r50.py', swap_prob=0.5),
    'random_merge': dict(config='configs/mocov2_rm_r50.py'),
    'copypaste_gray': dict(config='configs/mocov2_copypaste_r50.py'),
    # InsLoc R-C4: composites of bg_size = the study's input size, paste sizes scaled
    # from the paper's (128, 255) at 256 px; RoIAlign on res4, res5 (layer4) as head.
    'insloc_c4': dict(config='configs/insloc_r50-c4.py'),
}

BUDGETS = {
    # epochs, input size, batch, eval subset (None = all), det iterations, det short side
    'smoke': dict(epochs=1, max_iters=2, size=64, batch=8, eval_limit=40, det_iters=2,
                  det_side=256),
    'small': dict(epochs=4, max_iters=None, size=96, batch=64, eval_limit=None,
                  det_iters=200, det_side=288),
    'full': dict(epochs=12, max_iters=None, size=112, batch=64, eval_limit=None,
                 det_iters=600, det_side=384),
}


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


def derive_pretrain_config(method, budget, seed, data_root, mask_file, out_path):
    """Write the run's config: the method's config at the study's scale."""
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
    cfg.randomness = dict(seed=seed, deterministic=False)
    cfg.dump(out_path)
    return cfg


def final_checkpoint(work_dir, budget):
    b = BUDGETS[budget]
    name = f'iter_{b["max_iters"]}.pth' if b['max_iters'] else f'epoch_{b["epochs"]}.pth'
    return osp.join(work_dir, name)


def stage_pretrain(method, budget, seed, run_dir, args):
    """Pretrain (or resume); returns the final checkpoint, or None for random init."""
    if METHODS[method]['config'] is None:
        return None
    work_dir = osp.join(run_dir, 'pretrain')
    ckpt = final_checkpoint(work_dir, budget)
    done = osp.join(run_dir, 'pretrain.json')
    if osp.exists(done) and osp.exists(ckpt):
        return ckpt
    cfg_path = osp.join(run_dir, 'pretrain_config.py')
    mask_file = osp.join(args.out, 'masks', 'train.tmask')
    derive_pretrain_config(method, budget, seed, args.train_images, mask_file, cfg_path)
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
    """ResNet-18 with the checkpoint's ``backbone.*`` weights (random init if None)."""
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
    """Write a checkpoint with only ``backbone.*`` (for CorLoc and detection)."""
    import torch
    if not osp.exists(path):
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


def stage_detection(backbone_ckpt, budget, seed, run_dir, args):
    out = osp.join(run_dir, 'detection.json')
    if osp.exists(out):
        return load_json(out)
    b = BUDGETS[budget]
    work_dir = osp.join(run_dir, 'detection')
    cmd = [sys.executable, 'tools/det_train.py',
           'configs/benchmarks/mmdetection/voc-layout/faster-rcnn_r50_fpn_custom.py',
           '--pretrained', backbone_ckpt, '--data-root', args.det_voc, '--classes',
           *args.det_classes, '--max-iters', str(b['det_iters']), '--short-side',
           str(b['det_side']), '--work-dir', work_dir, '--seed', str(seed), '--cfg-options',
           'model.backbone.depth=18', 'model.neck.in_channels=[64,128,256,512]',
           # 64 sampled RoIs (not 512) and 100 test proposals: the 4-conv box head
           # dominates a CPU step otherwise
           'model.train_cfg.rcnn.sampler.num=64', 'model.test_cfg.rpn.max_per_img=100']
    if osp.exists(osp.join(work_dir, 'last_checkpoint')):
        cmd.append('--resume')
    start = time.time()
    log = run(cmd, osp.join(run_dir, 'detection.log'))
    last = [ln for ln in log.splitlines() if ln.startswith('AP50=')][-1]
    result = {k: float(v) for k, v in re.findall(r'(AP\w*)=([\d.]+)', last)}
    det = load_json(osp.join(work_dir, 'det_results.json'))
    result.update(line=last, seconds=time.time() - start,
                  ap_vs_iou={f'{float(t):.1f}': 100 * v for t, v in det['ap_vs_iou'].items()})
    atomic_json(out, result)
    return result


def run_one(method, seed, args):
    """Run (or resume) every stage of one (method, seed) and rewrite its row.

    Each stage caches its own JSON, so the row is rebuilt from whatever has finished;
    ``--skip`` stages are not run here but their earlier results are kept.
    """
    run_dir = osp.join(args.out, args.budget, f'{method}_seed{seed}')
    row_path = osp.join(args.out, args.budget, 'rows', f'{method}_seed{seed}.json')
    print(f'[study] {method} seed {seed}: {run_dir}', flush=True)
    os.makedirs(run_dir, exist_ok=True)
    ckpt = stage_pretrain(method, args.budget, seed, run_dir, args)
    backbone_ckpt = export_backbone(ckpt, seed, osp.join(run_dir, 'backbone.pth'))
    row = dict(method=method, seed=seed, budget=args.budget,
               settings=BUDGETS[args.budget])
    if ckpt is not None:
        row['pretrain_seconds'] = load_json(osp.join(run_dir, 'pretrain.json'))['seconds']
    for name, stage in (('probes', stage_probes), ('corloc', stage_corloc),
                        ('detection', stage_detection)):
        if name in args.skip:
            if osp.exists(osp.join(run_dir, f'{name}.json')):
                row[name] = load_json(osp.join(run_dir, f'{name}.json'))
            continue
        src = ckpt if name == 'probes' else backbone_ckpt
        row[name] = stage(src, args.budget, seed, run_dir, args)
        print(f'[study] {method} seed {seed}: {name} {row[name]}', flush=True)
    atomic_json(row_path, row)
    return row


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--budget', choices=sorted(BUDGETS), default='small')
    p.add_argument('--methods', nargs='+', choices=sorted(METHODS), default=list(METHODS))
    p.add_argument('--seeds', nargs='+', type=int, default=[0, 1])
    p.add_argument('--out', default=osp.join(REPO, 'work_dirs', 'study'))
    p.add_argument('--amp', action='store_true', help='bf16 autocast for pretraining')
    p.add_argument('--skip', nargs='*', default=[], choices=['probes', 'corloc', 'detection'])
    p.add_argument('--report', action='store_true', help='only aggregate finished rows')
    p.add_argument('--train-images', default=osp.join(SHARED, 'imagenette-5k', 'train'))
    p.add_argument('--probe-train', default=osp.join(SHARED, 'imagenette-5k', 'train'))
    p.add_argument('--probe-val', default=osp.join(SHARED, 'imagenette-5k', 'val'))
    p.add_argument('--box-images', default=osp.join(SHARED, 'kangaroo', 'images'))
    p.add_argument('--box-annotations', default=osp.join(SHARED, 'kangaroo', 'annots'))
    p.add_argument('--det-voc', default=None,
                   help='VOC-layout detection set (default: ../shared/data/cards converted '
                   'into OUT/cards_voc with tools/dataset_converters)')
    p.add_argument('--det-classes', nargs='+',
                   default=['nine', 'ten', 'jack', 'queen', 'king', 'ace'])
    return p.parse_args()


def main():
    args = parse_args()
    args.out = osp.abspath(args.out)
    if args.report:
        sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
        from study_report import write_report
        write_report(osp.join(args.out, args.budget))
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
