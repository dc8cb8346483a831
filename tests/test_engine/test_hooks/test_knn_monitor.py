# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
import glob
import json
import os
import os.path as osp
import subprocess
import sys
import types

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
import torch.nn as nn
from mmengine.config import Config
from mmengine.model import BaseModel
from mmengine.runner import Runner
from mmpretrain.registry import HOOKS, MODELS
from PIL import Image

import mmtobias  # noqa: F401
from mmtobias.evaluation.features import gather_rows
from mmtobias.testing import free_port, shrink_config

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
RED, BLUE = (230, 20, 20), (20, 20, 230)


def _colour_folder(root, colours, per_class=3):
    """``root/<class>/<i>.png``: class ``a`` in one colour, ``b`` in the other
    (a little noise, so no two images are equal)."""
    rng = np.random.default_rng(0)
    for cls, colour in zip(('a', 'b'), colours):
        os.makedirs(osp.join(root, cls), exist_ok=True)
        for i in range(per_class):
            img = np.clip(np.array(colour) + rng.integers(-10, 10, (20, 24, 3)),
                          0, 255).astype(np.uint8)
            Image.fromarray(img).save(osp.join(root, cls, f'{i}.png'))
    return str(root)


class MeanColourNet(nn.Module):
    """A backbone whose pooled feature is the normalised mean colour; it
    records the mode and grad state of every call."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1))
        self.calls = []

    def forward(self, x):
        self.calls.append((self.training, torch.is_grad_enabled()))
        return (x * self.scale, )


class ToyModel(BaseModel):

    def __init__(self):
        super().__init__(data_preprocessor=MODELS.build(dict(
            type='SelfSupDataPreprocessor', mean=[123.675, 116.28, 103.53],
            std=[58.395, 57.12, 57.375], to_rgb=True)))
        self.backbone = MeanColourNet()

    def forward(self, inputs, data_samples=None, mode='tensor'):
        feat = self.backbone(inputs[0] if isinstance(inputs, list) else inputs)[0]
        return dict(loss=(feat.mean() - 1) ** 2)


def toy_runner(tmp_path, name, hook, max_epochs=2, by_epoch=True):
    data = _colour_folder(tmp_path / 'train', (RED, BLUE))
    train_cfg = dict(by_epoch=True, max_epochs=max_epochs) if by_epoch else \
        dict(type='IterBasedTrainLoop', max_iters=max_epochs * 3)
    return Runner(
        model=ToyModel(), work_dir=str(tmp_path / 'work'), experiment_name=name,
        train_dataloader=dict(
            dataset=dict(type='CustomDataset', data_root=data, with_label=False,
                         pipeline=[dict(type='LoadImageFromFile'),
                                   dict(type='Resize', scale=(16, 16)),
                                   dict(type='PackInputs')]),
            sampler=dict(type='DefaultSampler', shuffle=True),
            collate_fn=dict(type='default_collate'), batch_size=2,
            num_workers=0),
        train_cfg=train_cfg,
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        custom_hooks=[dict(type='KNNMonitor', train_root=data, num_workers=0,
                           image_size=16, batch_size=4, **hook)],
        default_hooks=dict(logger=dict(type='LoggerHook', interval=1),
                           checkpoint=dict(type='CheckpointHook', interval=100)),
        default_scope='mmpretrain', randomness=dict(seed=0))


def knn_scalars(work_dir):
    rows = []
    for path in glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')):
        with open(path) as f:
            rows += [r for r in map(json.loads, f) if 'knn/top1' in r]
    return rows


@pytest.mark.slow
def test_known_accuracy_each_epoch_in_eval_mode_without_grad(tmp_path):
    val = _colour_folder(tmp_path / 'val', (RED, BLUE), per_class=2)
    swapped = _colour_folder(tmp_path / 'swapped', (BLUE, RED), per_class=2)
    runner = toy_runner(tmp_path, 'knn_known', dict(val_root=val))
    runner.train()
    rows = knn_scalars(runner.work_dir)
    assert [(r['step'], r['epoch'], r['knn/top1']) for r in rows] == [
        (1, 1, 100.0), (2, 2, 100.0)]  # colours separate the classes
    assert rows[0]['iter'] == 3 and rows[0]['knn/seconds'] > 0
    assert rows[1]['knn/time_share'] > 0
    net = runner.model.backbone
    assert net.training  # restored
    monitor_calls = [c for c in net.calls if c == (False, False)]
    assert len(monitor_calls) == 2 * (2 + 1)  # epochs x (train + val batches)
    assert all(c == (True, True) for c in net.calls if c != (False, False))
    assert runner.message_hub.get_scalar('knn/top1').current() == 100.0
    timestamp_json = glob.glob(osp.join(runner.work_dir, '*', 'vis_data',
                                        '2*.json'))
    assert 'knn/top1' in open(timestamp_json[0]).read()
    # the same folders with the colours of the classes exchanged: all wrong
    hook = HOOKS.build(dict(type='KNNMonitor', train_root=str(tmp_path / 'train'),
                            val_root=swapped, image_size=16, num_workers=0))
    hook._build()
    assert hook.evaluate(runner, 2, 6) == 0.0


@pytest.mark.slow
def test_by_iteration_with_a_start_point_and_subsets(tmp_path):
    val = _colour_folder(tmp_path / 'val', (RED, BLUE), per_class=2)
    runner = toy_runner(tmp_path, 'knn_iters', dict(
        val_root=val, by_epoch=False, interval=4, evaluate_at_start=True,
        max_train_images=4, max_val_images=3), by_epoch=False)
    runner.train()  # 6 iterations: evaluated at 0, 4 and the last one
    rows = knn_scalars(runner.work_dir)
    assert [r['step'] for r in rows] == [0, 4, 6]
    hook = next(h for h in runner.hooks if type(h).__name__ == 'KNNMonitor')
    assert [hook._splits[s][2] for s in ('train', 'val')] == [4, 3]
    # evenly spaced over the sorted list: both classes stay in the bank
    assert sorted(set(hook._splits['train'][1].tolist())) == [0, 1]


def test_errors_and_repr(tmp_path):
    train = _colour_folder(tmp_path / 'train', (RED, BLUE))
    os.makedirs(tmp_path / 'other' / 'zebra')
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(
        str(tmp_path / 'other' / 'zebra' / 'z.png'))
    build = lambda **kw: HOOKS.build(dict(type='KNNMonitor', **kw))  # noqa: E731
    with pytest.raises(TypeError, match='val_root must be a folder path'):
        build(train_root=train, val_root=None)
    with pytest.raises(ValueError, match='interval must be a positive int'):
        build(train_root=train, val_root=train, interval=0)
    with pytest.raises(ValueError, match='max_val_images must be a positive '
                       'int or None'):
        build(train_root=train, val_root=train, max_val_images=0)
    with pytest.raises(ValueError, match='class folders .* differ'):
        build(train_root=train, val_root=str(tmp_path / 'other'),
              num_workers=0)._build()
    hook = build(train_root=train, val_root=train, backbone='encoder_q')
    runner = types.SimpleNamespace(model=ToyModel())  # what _get_backbone reads
    with pytest.raises(ValueError, match="ToyModel has no 'encoder_q'"):
        hook._get_backbone(runner)
    text = repr(build(train_root=train, val_root=train, k=5))
    assert text.startswith('KNNMonitor(train_root=') and 'k=5' in text
    assert 'temperature=0.07' in text and 'by_epoch=True' in text


def _gather_worker(rank, world_size, port, totals, queue):
    import torch.distributed as dist

    import mmtobias.evaluation.features as features
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}',
                            rank=rank, world_size=world_size)
    gather = features.all_gather
    problems = []

    def nccl_checked_all_gather(data, group=None):
        # gloo tolerates what NCCL refuses: check its rules here
        if not data.is_contiguous():
            problems.append('not contiguous')
        shapes = [None] * world_size
        dist.all_gather_object(shapes, (tuple(data.shape), str(data.dtype)))
        if len(set(shapes)) != 1:
            problems.append(f'shapes differ: {shapes}')
        return gather(data, group)

    features.all_gather = nccl_checked_all_gather
    try:
        for total in totals:
            full = torch.arange(total * 3, dtype=torch.float32).view(total, 3)
            out = gather_rows(full[rank::world_size].clone(), total)
            queue.put((rank, total, out.tolist(), list(problems)))
    finally:
        features.all_gather = gather
        dist.destroy_process_group()


@pytest.mark.slow
def test_gather_rows_restores_the_order_across_two_processes():
    port = free_port()
    totals = (5, 6, 1)  # uneven, even, one rank without rows
    ctx = mp.get_context('fork')  # the test module is imported already
    queue = ctx.Queue()
    procs = [ctx.Process(target=_gather_worker, args=(r, 2, port, totals, queue))
             for r in range(2)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=120) for _ in range(2 * len(totals))]
    for p in procs:
        p.join(timeout=60)
    assert all(p.exitcode == 0 for p in procs)
    for rank, total, out, problems in results:
        expected = torch.arange(total * 3, dtype=torch.float32).view(total, 3)
        assert out == expected.tolist() and problems == [], (rank, total)


@pytest.mark.slow
def test_mocov2_tobias_two_epochs_with_tools_train_logs_knn_each_epoch(tmp_path):
    """Done-when of the issue: the stock tools/train.py, the Tobias config, the
    monitor added by config, a kNN accuracy in scalars.json after each epoch."""
    rng = np.random.RandomState(0)
    data = tmp_path / 'images'
    for i in range(4):
        path = data / f'c{i % 2}' / f'{i}.jpg'
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.randint(0, 256, (48 + 8 * i, 64, 3),
                                    dtype=np.uint8)).save(str(path))
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'mocov2_tobias_r50.py'))
    shrink_config(cfg, data_root=str(data), mask_file=str(tmp_path / 'masks.tmask'),
                  width=8, max_epochs=2, save_checkpoint=False)
    cfg.custom_hooks.append(dict(
        type='KNNMonitor', train_root=str(data), val_root=str(data),
        image_size=32, batch_size=4, num_workers=0))
    cfg_path = str(tmp_path / 'mocov2_tobias_knn.py')
    cfg.dump(cfg_path)
    work_dir = str(tmp_path / 'work')
    env = dict(os.environ, OMP_NUM_THREADS='1')
    proc = subprocess.run([sys.executable, 'tools/train.py', cfg_path,
                           '--work-dir', work_dir], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = knn_scalars(work_dir)
    assert [r['epoch'] for r in rows] == [1, 2]
    assert all(0 <= r['knn/top1'] <= 100 for r in rows)
    log = open(glob.glob(osp.join(work_dir, '*', '*.log'))[0]).read()
    assert log.count('KNNMonitor: epoch') == 2 and 'kNN top-1' in log
    assert 's of monitoring for' in log  # the whole run's cost
