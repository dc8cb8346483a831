# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
import logging
import os
import os.path as osp

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.model import BaseModel
from mmengine.runner import Runner
from PIL import Image

import mmtobias  # noqa: F401
from mmpretrain.registry import HOOKS
from mmtobias.scda import MaskStore

NET = dict(arch='resnet18', input_size=64, layer4_stride=1, extra_pool=False,
           batch_size=4, num_workers=0, precision='fp32')


class ToyModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))

    def forward(self, inputs, data_samples=None, mode='tensor'):
        x = torch.stack([i.float().mean() for i in inputs])
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
    from mmtobias.engine.hooks import tobias_mask_generator as hook_mod

    def fail(*args, **kwargs):
        raise AssertionError('masks regenerated although up to date')

    monkeypatch.setattr(hook_mod, 'generate_masks', fail)
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
    assert any('seed: file 0, hook 3' in m for m in msgs)


def test_hook_repr_and_argument_errors():
    hook = HOOKS.build(dict(type='TobiasMaskGenerator', mask_file='m.tmask'))
    assert hook.priority == 'VERY_HIGH'
    text = repr(hook)
    for part in ("mask_file='m.tmask'", "arch='resnet50'", 'seed=0',
                 'input_size=224', "precision='auto'", "decode='auto'",
                 'num_workers=None', 'num_threads=None',
                 'lock_timeout=3600.0'):
        assert part in text
    with pytest.raises(TypeError, match='mask_file must be a path'):
        HOOKS.build(dict(type='TobiasMaskGenerator', mask_file=None))
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
    runner.train()
    assert runner.iter == 3
    assert len(MaskStore(mask_file)) == 6


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
    from mmtobias.engine.hooks import tobias_mask_generator as hook_mod
    summaries = []

    def recording(*args, **kwargs):
        summaries.append(hook_mod_generate(*args, **kwargs))
        return summaries[-1]

    hook_mod_generate = hook_mod.generate_masks
    monkeypatch.setattr(hook_mod, 'generate_masks', recording)
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


def test_hook_names_mask_file_when_it_cannot_be_written(tmp_path,
                                                        monkeypatch):
    data_root = str(tmp_path / 'data')
    _write_images(data_root, ['x.jpg'])
    blocker = tmp_path / 'a_file'
    blocker.write_text('not a folder')  # fails for root too, unlike chmod
    from mmtobias.scda import generate as gen

    def no_decoding(*args, **kwargs):
        raise AssertionError('an image was decoded before the check')

    monkeypatch.setattr(gen, 'ImageListDataset', no_decoding)
    runner = _runner(tmp_path, data_root, str(blocker / 'm.tmask'), 'bad')
    with pytest.raises(ValueError, match=r'mask_file of the '
                       r'TobiasMaskGenerator hook.*cannot be written'):
        runner.train()
