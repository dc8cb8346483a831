# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""Linear-probe / fine-tune benchmark configs: 2 iterations + validation on
CPU through the real Runner, initialised from a Tobias-style checkpoint."""
import glob
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner
from PIL import Image

import mmtobias  # noqa: F401
from mmpretrain.registry import MODELS
from mmtobias.testing import shrink_config, walk_dicts

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = sorted(  # Runner configs; knn/ is read by tools/analysis_tools/knn_eval
    osp.relpath(p, REPO) for p in glob.glob(
        osp.join(REPO, 'configs', 'benchmarks', 'classification', '**',
                 '*.py'), recursive=True) if '/knn/' not in p)
TINY = dict(depth=18, stem_channels=8, base_channels=8)


@pytest.fixture(autouse=True)
def fast_runner(monkeypatch):
    monkeypatch.setattr(Config, 'pretty_text', property(lambda cfg: cfg.text))


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp('cls')
    rng = np.random.RandomState(0)

    def save(rel, base):
        p = root / base / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.randint(0, 256, (40, 48, 3), np.uint8)).save(
            str(p))

    for split in ('train', 'val'):  # ImageNet-style folders, 2 classes
        for i in range(4):
            save(f'{split}/c{i % 2}/{i}.JPEG', 'folder')
    cub = root / 'cub'
    images, labels, splits = [], [], []
    for i in range(8):  # CUB layout: 4 train + 4 test
        rel = f'00{i % 2 + 1}.B/{i}.jpg'
        save(f'images/{rel}', 'cub')
        images.append(f'{i + 1} {rel}')
        labels.append(f'{i + 1} {i % 2 + 1}')
        splits.append(f'{i + 1} {int(i < 4)}')
    (cub / 'images.txt').write_text('\n'.join(images) + '\n')
    (cub / 'image_class_labels.txt').write_text('\n'.join(labels) + '\n')
    (cub / 'train_test_split.txt').write_text('\n'.join(splits) + '\n')
    # a checkpoint of a tiny MoCo (the layout mmtobias pretraining writes)
    moco = MODELS.build(
        dict(type='MoCo', queue_len=16, feat_dim=16,
             backbone=dict(type='ResNet', **TINY),
             neck=dict(type='MoCoV2Neck', in_channels=64, hid_channels=16,
                       out_channels=16, with_avg_pool=True),
             head=dict(type='ContrastiveHead',
                       loss=dict(type='CrossEntropyLoss'), temperature=0.2)))
    ckpt = str(root / 'moco.pth')
    torch.save(dict(state_dict=moco.state_dict(), meta={}), ckpt)
    return dict(folder=str(root / 'folder'), cub=str(cub), ckpt=ckpt,
                weight=moco.backbone.conv1.weight.detach().clone())


@pytest.mark.slow
@pytest.mark.parametrize('name', CONFIGS)
def test_benchmark_config_trains_and_validates(name, data, tmp_path):
    cfg = Config.fromfile(osp.join(REPO, name))
    cub = cfg.train_dataloader.dataset.type == 'CUB'
    shrink_config(cfg, data_root=data['cub' if cub else 'folder'], width=8,
                  save_checkpoint=False, work_dir=str(tmp_path))
    for node in walk_dicts([cfg[f'{split}_dataloader'] for split in ('train', 'val', 'test')]):
        if node.get('type') == 'Resize' and isinstance(node.get('scale'), tuple):
            node['scale'] = (32, 32)
    cfg.model.backbone.init_cfg.checkpoint = data['ckpt']
    cfg.model.head.num_classes = 2
    if 'num_classes' in cfg.get('data_preprocessor', {}):  # Mixup targets
        cfg.data_preprocessor.num_classes = 2
    cfg.val_evaluator = cfg.test_evaluator = dict(type='Accuracy', topk=(1, ))
    runner = Runner.from_cfg(cfg)
    if 'linear' in name:  # the frozen backbone holds the pretrained weights
        runner.model.init_weights()
        assert torch.equal(runner.model.backbone.conv1.weight,
                           data['weight'])
    runner.train()
    assert runner.iter == 2
    assert 'val/accuracy/top1' in runner.message_hub.log_scalars
