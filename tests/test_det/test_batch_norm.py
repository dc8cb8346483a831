# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""Frozen backbone BN with re-estimated statistics, GroupNorm heads, precise BN."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import InfiniteSampler, pseudo_collate
from torch import nn
from torch.utils.data import DataLoader, Dataset

from mmtobias.det import freeze_backbone_bn, reestimate_bn
from mmtobias.det.batch_norm import _separate_loader

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CFG = osp.join(ROOT, 'configs', 'benchmarks', 'mmdetection', 'voc-layout')


class Shifted(Dataset):
    """Images with mean 3 and std 2 per channel (BN statistics far from 0 and 1)."""

    def __len__(self):
        return 32

    def __getitem__(self, i):
        g = torch.Generator().manual_seed(i)
        return dict(inputs=3 + 2 * torch.randn(4, 8, 8, generator=g))


class Tiny(nn.Module):
    """backbone (conv + BN, frozen by norm_eval) and a head (conv + BN that trains),
    called like an mmengine model by ``update_bn_stats``."""

    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(4, 4, 1), nn.BatchNorm2d(4))
        self.head = nn.Sequential(nn.Conv2d(4, 4, 1), nn.BatchNorm2d(4))
        with torch.no_grad():
            self.backbone[0].weight.copy_(torch.eye(4).view(4, 4, 1, 1))
            self.backbone[0].bias.zero_()

    def data_preprocessor(self, data, training=False):
        return dict(inputs=torch.stack(data['inputs']))

    def forward(self, inputs):
        return self.head(self.backbone(inputs))

    def train(self, mode=True):
        super().train(mode)
        self.backbone[1].eval()  # norm_eval
        return self


def _loader(sampler=None):
    data = Shifted()
    return DataLoader(data, batch_size=4, sampler=sampler or InfiniteSampler(data, seed=0),
                      collate_fn=pseudo_collate)


def test_reestimate_bn_updates_only_the_chosen_layers_and_restores_modes():
    model = Tiny().train()
    head_stats = model.head[1].running_mean.clone()
    reestimate_bn(model, _loader(), num_samples=32, layers=[model.backbone[1]])
    frozen = model.backbone[1]
    # the identity conv passes the data's statistics to the frozen BN
    assert torch.allclose(frozen.running_mean, torch.full((4, ), 3.0), atol=0.15)
    assert torch.allclose(frozen.running_var, torch.full((4, ), 4.0), atol=0.6)
    assert torch.equal(model.head[1].running_mean, head_stats)  # not chosen: untouched
    assert model.training and not frozen.training and model.head[1].training
    assert frozen.weight.grad is None  # under no_grad


def test_the_training_loaders_iterator_survives_a_reestimation():
    """mmengine's InfiniteSampler shares one index generator between its iterators:
    a second iterator over the training loader, once closed, ends the first one. The
    statistics are therefore estimated through a separate loader."""
    loader = _loader()
    model = Tiny().train()
    training = iter(loader)
    next(training)
    reestimate_bn(model, loader, num_samples=8, layers=[model.backbone[1]])
    next(training)  # still alive

    # the upstream behaviour worked around, open-mmlab/mmengine#1649 (if this starts
    # failing, mmengine changed)
    second = iter(loader)
    next(second)
    del second
    with pytest.raises(StopIteration):
        next(training)


def test_separate_loader_takes_the_batch_of_a_batch_sampler():
    from torch.utils.data import BatchSampler, RandomSampler
    data = Shifted()
    loader = DataLoader(data, batch_sampler=BatchSampler(RandomSampler(data), 3, False),
                        collate_fn=pseudo_collate)
    assert loader.batch_size is None
    separate = _separate_loader(loader)
    assert separate.batch_size == 3 and len(separate) == 32 // 3


@pytest.mark.parametrize('config,frozen,group_norm', [
    ('faster-rcnn_r50_fpn_custom.py', ['backbone'], ['neck', 'roi_head.bbox_head']),
    ('faster-rcnn_r50-c4_custom.py', ['backbone', 'roi_head.shared_head'], []),
])
def test_freeze_backbone_bn_on_the_transfer_configs(config, frozen, group_norm):
    cfg = Config.fromfile(osp.join(CFG, config))
    changed = freeze_backbone_bn(cfg.model)
    assert changed == dict(frozen=frozen, group_norm=group_norm)
    assert cfg.model.backbone.norm_cfg == dict(type='BN', requires_grad=False)
    assert cfg.model.backbone.norm_eval is True
    if 'neck' in group_norm:
        assert cfg.model.neck.norm_cfg.type == 'GN'
        assert cfg.model.roi_head.bbox_head.norm_cfg.num_groups == 32
    if 'roi_head.shared_head' in frozen:
        assert cfg.model.roi_head.shared_head.norm_eval is True
    assert 'SyncBN' not in str(cfg.model)
    with pytest.raises(ValueError, match='model.backbone.norm_cfg'):
        freeze_backbone_bn(Config(dict(model=dict(backbone=dict(type='Swin')))).model)
