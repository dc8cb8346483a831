# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""The Tobias / ablation pretraining configs train for 2 iterations on CPU
through the real Runner (tiny overrides: ResNet-18, 32 px, 4 images), and the
paper-settings configs hold the paper's settings."""
import glob
import os.path as osp
import re

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner
from PIL import Image

import mmtobias  # noqa: F401
from mmtobias.scda import MaskStore
from mmtobias.testing import shrink_config

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SHORT = ['mocov2_tobias_r50.py', 'mocov2_rm_r50.py', 'mocov2_mixup_r50.py',
         'mocov2_copypaste_r50.py', 'simclr_tobias_r50.py']


@pytest.fixture(autouse=True)
def fast_runner(monkeypatch):
    """Keep the real Runner, minus two costs unrelated to the configs: the
    yapf formatting of the config dump and OpenMP busy-waiting on a shared
    CPU."""
    monkeypatch.setattr(Config, 'pretty_text', property(lambda cfg: cfg.text))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope='module')
def workspace(tmp_path_factory):
    """4 images in a class/file tree and a shared mask file path."""
    root = tmp_path_factory.mktemp('configs')
    rng = np.random.RandomState(0)
    for i in range(4):
        path = root / 'images' / f'c{i % 2}' / f'{i}.jpg'
        path.parent.mkdir(parents=True, exist_ok=True)
        img = rng.randint(0, 256, (48 + 8 * i, 64, 3), dtype=np.uint8)
        Image.fromarray(img).save(str(path))
    # a CUB-200-2011 layout: 4 train images and 1 test image
    cub = root / 'CUB_200_2011'
    lines = dict(images=[], labels=[], split=[])
    for i in range(5):
        rel = f'00{i % 2 + 1}.Bird_{i % 2}/b{i}.jpg'
        (cub / 'images' / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.randint(0, 256, (40, 56, 3), dtype=np.uint8)).save(
            str(cub / 'images' / rel))
        lines['images'].append(f'{i + 1} {rel}')
        lines['labels'].append(f'{i + 1} {i % 2 + 1}')
        lines['split'].append(f'{i + 1} {int(i < 4)}')
    for name, key in (('images.txt', 'images'),
                      ('image_class_labels.txt', 'labels'),
                      ('train_test_split.txt', 'split')):
        (cub / name).write_text('\n'.join(lines[key]) + '\n')
    return dict(data_root=str(root / 'images'),
                mask_file=str(root / 'masks' / 'masks.tmask'),
                cub_root=str(cub), cub_mask_file=str(root / 'cub.tmask'),
                root=str(root))


def tiny_cfg(path, workspace, work_dir):
    """The config at ResNet-18 width 8 and 32 px on the workspace's images."""
    cfg = Config.fromfile(path)
    cub = cfg.train_dataloader.dataset.type == 'CUB'
    shrink_config(cfg, data_root=workspace['cub_root' if cub else 'data_root'],
                  mask_file=(workspace['cub_mask_file' if cub else 'mask_file']
                             if 'mask_file' in cfg else None),
                  width=8, save_checkpoint=False, work_dir=work_dir)
    cfg.launcher = 'none'
    return cfg


def run_two_iterations(cfg):
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 2
    return runner


@pytest.mark.slow
@pytest.mark.parametrize('name', SHORT)
def test_short_config_trains_two_iterations(name, workspace, tmp_path):
    cfg = tiny_cfg(osp.join(REPO, 'configs', name), workspace,
                   str(tmp_path / 'work'))
    run_two_iterations(cfg)
    store = MaskStore(workspace['mask_file'])  # made by the hook
    assert len(store) == 4 and store.grid == 4
    assert osp.samefile(store.meta['data_root'], workspace['data_root'])


LONG = sorted(
    osp.basename(p)
    for p in glob.glob(osp.join(REPO, 'configs', 'tobias', '*.py')))


@pytest.mark.parametrize('name', LONG)
def test_long_config_has_the_paper_settings(name):
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'tobias', name))
    method = name.split('_')[0]
    epochs = int(re.search(r'-(\d+)e_', name).group(1))
    assert cfg.train_cfg.max_epochs == epochs
    assert cfg.param_scheduler[-1]['T_max'] in (epochs, epochs - 10)
    views = cfg.train_dataloader.dataset.pipeline[1]['transforms']
    first = views[0][0]
    if method == 'mocov2':
        assert first['type'] == 'RandomResizedCrop'
    elif method == 'mocov2-copypaste':
        assert first['type'] == 'CopyPaste' and len(views) == 1
    else:
        mode = dict(rm='random_merge', mixup='mixup').get(
            method.split('-')[1], 'swap')
        assert (first['type'], first['mode'], first['prob']) == (
            'BackgroundSwap', mode, 0.3)
        assert cfg.train_dataloader.dataset.pipeline[1]['num_views'] == [1, 1]
        assert views[1][0]['type'] == 'RandomResizedCrop'  # key untouched
    masks = [h for h in cfg.get('custom_hooks', [])
             if h['type'] == 'TobiasMaskGenerator']
    if method != 'mocov2':
        # one place for the mask file: the top-level key, which the hook reads and
        # hands to the transform (neither carries its own)
        assert isinstance(cfg.mask_file, str)
        assert 'mask_file' not in masks[0] and 'mask_file' not in first
    if name.endswith('-112px.py'):  # the paper's ImageNet-subset settings
        crops = [t for v in views for t in v
                 if t['type'] == 'RandomResizedCrop']
        assert {t['scale'] for t in crops} == {112}
        assert cfg.optim_wrapper.optimizer.lr == 0.3
        assert cfg.train_dataloader.batch_size * 8 == 256
        assert cfg.model.queue_len == 65536
        assert cfg.model.head.temperature == 0.2
        assert cfg.param_scheduler[0]['type'] == 'CosineAnnealingLR'
        sub = re.search(r'_in(\d+k)-', name).group(1)
        assert cfg.train_dataloader.dataset.data_root.endswith(sub)
        if masks:
            assert sub in cfg.mask_file
    else:
        assert cfg.train_dataloader.dataset.type == 'CUB'
        if masks:
            assert 'cub' in cfg.mask_file


@pytest.mark.slow
@pytest.mark.parametrize('name', LONG)
def test_long_config_trains_two_iterations(name, workspace, tmp_path):
    cfg = tiny_cfg(osp.join(REPO, 'configs', 'tobias', name), workspace,
                   str(tmp_path / 'work'))
    run_two_iterations(cfg)
