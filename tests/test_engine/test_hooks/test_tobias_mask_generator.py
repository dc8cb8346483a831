# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
import logging
import os
import os.path as osp

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmcv.transforms import BaseTransform
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.registry import DefaultScope
from mmengine.runner import Runner
from PIL import Image

import mmtobias  # noqa: F401
from mmpretrain.registry import DATASETS, HOOKS, MODELS, TRANSFORMS
from mmtobias.scda import MaskStore, fill_mask_file, mask_file_readers
from mmtobias.scda import ensure as ensure_mod
from mmtobias.testing import make_image_folder

NET = dict(arch='resnet18', input_size=64, layer4_stride=1, extra_pool=False,
           batch_size=4, num_workers=0, precision='fp32')


def _mean(x):
    if torch.is_tensor(x):
        return x.float().mean()
    return torch.stack([_mean(i) for i in x]).mean()


@MODELS.register_module(force=True)
class ToyModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))

    def forward(self, inputs, data_samples=None, mode='tensor'):
        # inputs: N images, or a list of views (MultiView)
        x = torch.stack([_mean(i) for i in inputs])
        if mode == 'loss':
            return dict(loss=((x * self.w - 1)**2).mean())
        return x


def _write_images(root, names):
    rng = np.random.default_rng(0)
    for name in names:
        path = osp.join(root, name)
        os.makedirs(osp.dirname(path), exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (32, 40, 3), np.uint8)).save(path)


def _runner(tmp_path, data_root, mask_file, name):
    return Runner(
        model=ToyModel(),
        work_dir=str(tmp_path / name),
        experiment_name=name,
        default_scope='mmpretrain',
        train_dataloader=dict(
            batch_size=2, num_workers=0,
            sampler=dict(type='DefaultSampler', shuffle=False),
            dataset=dict(
                type='CustomDataset', data_root=data_root, with_label=False,
                pipeline=[dict(type='LoadImageFromFile'),
                          dict(type='Resize', scale=16),
                          dict(type='PackInputs')])),
        train_cfg=dict(by_epoch=True, max_epochs=1),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        custom_hooks=[dict(type='TobiasMaskGenerator', mask_file=mask_file,
                           **NET)],
        default_hooks=dict(checkpoint=None, logger=None),
        log_level='WARNING')


@TRANSFORMS.register_module(force=True)
class ReadsMaskFile(BaseTransform):
    """Stands in for BackgroundSwap / CopyPaste: ``mask_file`` None until set,
    read (the store opened) in the DataLoader workers."""

    def __init__(self, mask_file=None):
        self.mask_file = mask_file

    def transform(self, results):
        if self.mask_file is None:
            raise RuntimeError('ReadsMaskFile: mask_file was never set')
        results['num_masks'] = len(MaskStore(self.mask_file))
        return results


class WorkerRecorder(Hook):
    """Keeps the DataLoader workers the loop started before ``before_run``
    and after the mask hook's ``before_train``."""

    priority = 'LOWEST'

    def __init__(self):
        self.before, self.after = [], []

    @staticmethod
    def _workers(runner):
        it = getattr(runner.train_loop, 'dataloader_iterator', None)
        return list(getattr(getattr(it, '_iterator', None), '_workers', []))

    def before_run(self, runner):
        self.before = self._workers(runner)

    def before_train(self, runner):
        self.after = self._workers(runner)


@pytest.mark.slow
def test_hook_generates_then_skips_then_regenerates(tmp_path, monkeypatch):
    data_root = str(tmp_path / 'data')
    _write_images(data_root, ['a/1.jpg', 'a/2.png', 'b/3.jpg'])
    mask_file = str(tmp_path / 'masks' / 'train.tmask')

    _runner(tmp_path, data_root, mask_file, 'first').train()
    store = MaskStore(mask_file)
    assert store.keys() == ['a/1.jpg', 'a/2.png', 'b/3.jpg']
    assert store.meta['data_root'] == data_root
    assert store.meta['backbone'] == 'resnet18' and store.grid == 4
    before = open(mask_file, 'rb').read()
    first_map = store.get_map('a/1.jpg')

    # Up to date: no generation at all.
    def fail(*args, **kwargs):
        raise AssertionError('masks regenerated although up to date')

    monkeypatch.setattr(ensure_mod, 'generate_masks', fail)
    _runner(tmp_path, data_root, mask_file, 'second').train()
    assert open(mask_file, 'rb').read() == before
    monkeypatch.undo()

    # A new image makes the fingerprint stale: the file is regenerated.
    _write_images(data_root, ['b/4.jpg'])
    _runner(tmp_path, data_root, mask_file, 'third').train()
    store = MaskStore(mask_file)
    assert len(store) == 4 and 'b/4.jpg' in store
    np.testing.assert_allclose(store.get_map('a/1.jpg'), first_map,
                               rtol=1e-3)


@pytest.mark.slow
def test_hook_warns_when_settings_differ(tmp_path):
    data_root = str(tmp_path / 'data')
    _write_images(data_root, ['x.jpg', 'y.jpg'])
    mask_file = str(tmp_path / 'm.tmask')
    _runner(tmp_path, data_root, mask_file, 'first').train()
    runner = _runner(tmp_path, data_root, mask_file, 'second')
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    runner.logger.addHandler(handler)
    hook = HOOKS.build(dict(type='TobiasMaskGenerator', mask_file=mask_file,
                            **dict(NET, seed=3)))
    hook.before_train(runner)
    msgs = [r.getMessage() for r in records if r.levelno == logging.WARNING]
    assert any('seed: file 0, requested 3' in m for m in msgs)


def test_hook_repr_and_argument_errors():
    hook = HOOKS.build(dict(type='TobiasMaskGenerator', mask_file='m.tmask'))
    assert hook.priority == 'VERY_HIGH'
    text = repr(hook)
    for part in ("mask_file='m.tmask'", "arch='resnet50'", 'seed=0',
                 'input_size=224', "precision='auto'", "decode='auto'",
                 'num_workers=None', 'num_threads=None',
                 'lock_timeout=3600.0'):
        assert part in text
    assert HOOKS.build(dict(type='TobiasMaskGenerator')).mask_file is None
    with pytest.raises(TypeError, match='mask_file must be a path.*got 3'):
        HOOKS.build(dict(type='TobiasMaskGenerator', mask_file=3))
    with pytest.raises(ValueError, match="arch='vit'"):
        HOOKS.build(dict(type='TobiasMaskGenerator', mask_file='m',
                         arch='vit'))
    with pytest.raises(ValueError, match="init='he'"):
        HOOKS.build(dict(type='TobiasMaskGenerator', mask_file='m',
                         init='he'))
    with pytest.raises(ValueError, match="precision='fp16'"):
        HOOKS.build(dict(type='TobiasMaskGenerator', mask_file='m',
                         precision='fp16'))
    with pytest.raises(ValueError, match="decode='turbo'.*'nvjpeg'"):
        HOOKS.build(dict(type='TobiasMaskGenerator', mask_file='m',
                         decode='turbo'))
    with pytest.raises(ValueError, match='TobiasMaskGenerator: layer4_stride'):
        HOOKS.build(dict(type='TobiasMaskGenerator', layer4_stride=3))


def test_hook_without_mask_file_names_both_places():
    hook = HOOKS.build(dict(type='TobiasMaskGenerator'))
    runner = type('R', (), dict(cfg=Config(dict(work_dir='w'))))()
    with pytest.raises(ValueError, match=r"top-level mask_file is None.*"
                       r"--cfg-options mask_file=.*mask_file of the "
                       r"TobiasMaskGenerator hook"):
        hook.before_train(runner)


def test_fill_mask_file_walks_wrappers_and_keeps_explicit_files(tmp_path):
    make_image_folder(str(tmp_path / 'images'), num_images=2)
    view = [dict(type='RandomApply', prob=0.5,
                 transforms=[dict(type='ReadsMaskFile')])]
    pipeline = [dict(type='LoadImageFromFile'),
                dict(type='MultiView', num_views=[1, 1],
                     transforms=[view, [dict(type='ReadsMaskFile',
                                             mask_file='own.tmask')]]),
                dict(type='ReadsMaskFile'), dict(type='PackInputs')]
    leaf = dict(type='CustomDataset', data_root=str(tmp_path / 'images'),
                with_label=False, pipeline=pipeline)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        dataset = DATASETS.build(dict(
            type='ConcatDataset', datasets=[
                dict(type='RepeatDataset', times=2, dataset=leaf), leaf]))
    readers = mask_file_readers(dataset)
    assert len(readers) == 6  # 3 per leaf dataset
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger('test_fill_mask_file')
    logger.addHandler(handler)
    filled = fill_mask_file(dataset, 'hook.tmask', logger=logger)
    assert len(filled) == 4
    assert [r.mask_file for r in readers] == [
        'hook.tmask', 'own.tmask', 'hook.tmask'] * 2
    warnings = [r.getMessage() for r in records
                if r.levelno == logging.WARNING]
    assert len(warnings) == 2 and 'own.tmask' in warnings[0] \
        and 'hook.tmask' in warnings[0]
    assert fill_mask_file(dataset, 'other.tmask', logger=logger) == []


@pytest.mark.slow
@pytest.mark.parametrize('persistent', [False, True])
def test_iter_based_loop_with_workers_sees_the_new_masks(tmp_path, persistent):
    # IterBasedTrainLoop starts its workers (and their prefetching) when the loop is
    # built, before any hook: the swap must still find the masks the hook writes.
    data_root = str(tmp_path / 'images')
    _write_images(data_root, [f'c{i % 2}/img{i}.jpg' for i in range(6)])
    mask_file = str(tmp_path / 'masks' / 'train.tmask')
    runner = Runner(
        model=ToyModel(),
        work_dir=str(tmp_path / 'work'),
        default_scope='mmpretrain',
        train_dataloader=dict(
            batch_size=2, num_workers=2, persistent_workers=persistent,
            sampler=dict(type='InfiniteSampler', shuffle=False),
            dataset=dict(
                type='CustomDataset', data_root=data_root, with_label=False,
                pipeline=[dict(type='LoadImageFromFile'),
                          dict(type='Resize', scale=(64, 64)),
                          dict(type='BackgroundSwap', prob=1.0, mask_file=mask_file),
                          dict(type='PackInputs')])),
        train_cfg=dict(type='IterBasedTrainLoop', max_iters=3),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        custom_hooks=[dict(type='TobiasMaskGenerator', mask_file=mask_file, **NET)],
        default_hooks=dict(checkpoint=None, logger=None),
        log_level='WARNING')
    recorder = WorkerRecorder()
    runner.register_hook(recorder)
    runner.train()
    assert runner.iter == 3
    assert len(MaskStore(mask_file)) == 6
    # the workers started with the loop were replaced, and have exited
    assert len(recorder.before) == 2 and len(recorder.after) == 2
    assert not {w.pid for w in recorder.before} & {w.pid for w in recorder.after}
    assert not any(w.is_alive() for w in recorder.before)


@pytest.mark.slow
def test_hook_records_a_moved_data_root(tmp_path):
    import shutil
    old_root = str(tmp_path / 'old')
    _write_images(old_root, [f'c{i % 2}/img{i}.jpg' for i in range(4)])
    mask_file = str(tmp_path / 'masks.tmask')
    _runner(tmp_path, old_root, mask_file, 'first').train()
    before = MaskStore(mask_file)
    maps = {k: before.get_map(k) for k in before.keys()}
    new_root = str(tmp_path / 'new')
    shutil.move(old_root, new_root)
    _runner(tmp_path, new_root, mask_file, 'second').train()
    after = MaskStore(mask_file)
    assert after.meta['data_root'] == osp.abspath(new_root)
    for k, v in maps.items():
        np.testing.assert_array_equal(after.get_map(k), v)


@pytest.mark.slow
def test_hook_recomputes_only_an_image_edited_in_place(tmp_path, monkeypatch):
    data_root = str(tmp_path / 'data')
    _write_images(data_root, ['a/1.jpg', 'a/2.jpg', 'b/3.jpg'])
    mask_file = str(tmp_path / 'm.tmask')
    _runner(tmp_path, data_root, mask_file, 'first').train()
    before = MaskStore(mask_file)
    maps = {k: before.get_map(k) for k in before.keys()}
    # same name, other pixels
    Image.fromarray(np.full((32, 40, 3), 90, np.uint8)).save(
        osp.join(data_root, 'a/2.jpg'))
    summaries = []
    generate = ensure_mod.generate_masks

    def recording(*args, **kwargs):
        summaries.append(generate(*args, **kwargs))
        return summaries[-1]

    monkeypatch.setattr(ensure_mod, 'generate_masks', recording)
    runner = _runner(tmp_path, data_root, mask_file, 'second')
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    runner.logger.addHandler(handler)
    runner.logger.setLevel(logging.INFO)
    runner.train()
    assert any('1 of 3 images changed' in r.getMessage() and 'a/2.jpg'
               in r.getMessage() for r in records)
    assert summaries[0]['num_computed'] == 1
    assert summaries[0]['num_reused'] == 2
    after = MaskStore(mask_file)
    np.testing.assert_array_equal(after.get_map('a/1.jpg'), maps['a/1.jpg'])
    assert not np.array_equal(after.get_map('a/2.jpg'), maps['a/2.jpg'])


@pytest.mark.slow
def test_hook_names_mask_file_when_it_cannot_be_written(tmp_path,
                                                        monkeypatch):
    data_root = str(tmp_path / 'data')
    _write_images(data_root, ['x.jpg'])
    blocker = tmp_path / 'a_file'
    blocker.write_text('not a folder')  # fails for root too, unlike chmod
    from mmtobias.scda import compute

    def no_decoding(*args, **kwargs):
        raise AssertionError('an image was decoded before the check')

    monkeypatch.setattr(compute, 'ImageListDataset', no_decoding)
    runner = _runner(tmp_path, data_root, str(blocker / 'm.tmask'), 'bad')
    with pytest.raises(ValueError, match=r'mask_file of the '
                       r'TobiasMaskGenerator hook.*cannot be written'):
        runner.train()


def _top_level_cfg(tmp_path, mask_file, by_epoch, swap=None):
    """A whole config: ``mask_file`` at top level only, the hook and the
    pipeline's transforms without one; 2 workers, persistent."""
    data_root = str(tmp_path / 'images')
    make_image_folder(data_root, num_images=6, size=(40, 32))
    swap = swap or dict(type='ReadsMaskFile')
    loop = (dict(by_epoch=True, max_epochs=1) if by_epoch else
            dict(type='IterBasedTrainLoop', max_iters=2))
    return Config(dict(
        mask_file=mask_file,
        model=dict(type='ToyModel'),
        work_dir=str(tmp_path / 'work'),
        default_scope='mmpretrain',
        train_dataloader=dict(
            batch_size=2, num_workers=2, persistent_workers=True,
            sampler=dict(type='DefaultSampler' if by_epoch else
                         'InfiniteSampler', shuffle=False),
            dataset=dict(
                type='RepeatDataset', times=1, dataset=dict(
                    type='CustomDataset', data_root=data_root,
                    with_label=False,
                    pipeline=[dict(type='LoadImageFromFile'),
                              dict(type='Resize', scale=(64, 64)),
                              dict(type='MultiView', num_views=[1, 1],
                                   transforms=[[swap], []]),
                              dict(type='PackInputs')]))),
        train_cfg=loop,
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        custom_hooks=[dict(type='TobiasMaskGenerator', **NET)],
        default_hooks=dict(checkpoint=None, logger=None),
        log_level='WARNING'))


@pytest.mark.slow
@pytest.mark.parametrize('by_epoch', [True, False])
def test_top_level_mask_file_reaches_the_workers(tmp_path, by_epoch):
    cfg = _top_level_cfg(tmp_path, str(tmp_path / 'default.tmask'), by_epoch)
    overridden = str(tmp_path / 'elsewhere' / 'x.tmask')
    cfg.merge_from_dict({'mask_file': overridden})  # --cfg-options mask_file=
    runner = Runner.from_cfg(cfg)
    runner.train()  # ReadsMaskFile raises in a worker that never got the path
    assert runner.iter == (3 if by_epoch else 2)
    assert len(MaskStore(overridden)) == 6
    assert not osp.exists(tmp_path / 'default.tmask')
    (reader, ) = mask_file_readers(runner.train_dataloader.dataset)
    assert reader.mask_file == overridden


@pytest.mark.slow
def test_top_level_mask_file_reaches_background_swap(tmp_path):
    swap = dict(type='BackgroundSwap', prob=1.0, mode='swap')
    try:
        TRANSFORMS.build(swap)
    except (TypeError, ValueError) as e:
        pytest.skip(f'BackgroundSwap needs mask_file at construction: {e}')
    mask_file = str(tmp_path / 'masks' / 'train.tmask')
    cfg = _top_level_cfg(tmp_path, mask_file, by_epoch=False, swap=swap)
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 2 and len(MaskStore(mask_file)) == 6
    (swap, ) = mask_file_readers(runner.train_dataloader.dataset)
    assert swap.mask_file == mask_file
