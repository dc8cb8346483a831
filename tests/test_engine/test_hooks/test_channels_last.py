# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
import logging
from types import SimpleNamespace

import pytest
import torch
import torch.nn as nn
from mmengine.logging import MMLogger
from mmengine.model import BaseModel
from mmengine.runner import Runner
from mmpretrain.registry import HOOKS

import mmtobias  # noqa: F401
from mmtobias.engine.hooks import channels_last as channels_last_module


class TinyConvModel(BaseModel):
    """Two convolutions with BN; the loss pulls the output towards 1."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8),
                                 nn.ReLU(), nn.Conv2d(8, 4, 3, stride=2))

    def forward(self, inputs, data_samples=None, mode='tensor'):
        return dict(loss=((self.net(inputs) - 1) ** 2).mean())


class RandomImages(torch.utils.data.Dataset):

    def __len__(self):
        return 8

    def __getitem__(self, i):
        g = torch.Generator().manual_seed(i)
        return dict(inputs=torch.randn(3, 12, 12, generator=g))


def train_tiny(tmp_path, name, custom_hooks):
    torch.manual_seed(0)
    runner = Runner(
        model=TinyConvModel(), work_dir=str(tmp_path / name), experiment_name=name,
        train_dataloader=dict(dataset=RandomImages(), batch_size=4, num_workers=0,
                              sampler=dict(type='DefaultSampler', shuffle=False),
                              collate_fn=dict(type='default_collate')),
        train_cfg=dict(by_epoch=True, max_epochs=2),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9)),
        custom_hooks=custom_hooks, default_hooks=dict(checkpoint=None),
        randomness=dict(seed=0), log_level='WARNING', default_scope='mmpretrain')
    runner.train()
    return runner.model


@pytest.mark.slow
def test_channels_last_hook_trains_the_same_weights(tmp_path):
    plain = train_tiny(tmp_path, 'plain', [])
    fast = train_tiny(tmp_path, 'fast', [dict(type='ChannelsLastHook')])
    conv = fast.net[0].weight
    assert conv.is_contiguous(memory_format=torch.channels_last)
    assert not conv.is_contiguous()
    assert plain.net[0].weight.is_contiguous()
    # the optimizer kept the converted parameters: both runs moved them, alike
    torch.manual_seed(0)
    init = TinyConvModel()
    assert not torch.allclose(init.net[0].weight, conv)
    for (name, a), (_, b) in zip(plain.state_dict().items(), fast.state_dict().items()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=name)


def test_to_channels_last_counts_4d_tensors():
    model = TinyConvModel()
    assert channels_last_module.to_channels_last(model) == 2  # the two conv weights
    assert channels_last_module.to_channels_last(model) == 0  # already converted


def test_channels_last_hook_leaves_a_wrapped_model(monkeypatch):
    monkeypatch.setattr(channels_last_module, 'is_model_wrapper', lambda m: True)
    model = TinyConvModel()
    logger = MMLogger.get_instance('test_channels_last_wrapped')
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger.addHandler(handler)
    hook = HOOKS.build(dict(type='ChannelsLastHook'))
    hook.before_train(SimpleNamespace(model=model, logger=logger))
    logger.removeHandler(handler)
    assert model.net[0].weight.is_contiguous()
    warnings = [r.getMessage() for r in records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert 'Remove ChannelsLastHook from custom_hooks for distributed runs' in warnings[0]
