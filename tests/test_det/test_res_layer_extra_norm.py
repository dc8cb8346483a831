# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
import pytest
import torch
from mmdet.registry import MODELS
from mmengine.model import revert_sync_batchnorm

import mmtobias  # noqa: F401


def test_extra_norm_follows_res5_and_syncbn_reverts_for_one_cpu_process():
    head = MODELS.build(dict(type='SharedResLayerExtraNorm', depth=50,
                             norm_cfg=dict(type='SyncBN', requires_grad=True)))
    assert isinstance(head.norm, torch.nn.SyncBatchNorm)
    assert sorted({k.split('.')[0] for k in head.state_dict()}) == ['layer4', 'norm']
    # what mmengine's Runner does without a launcher: SyncBN -> BN, runs on CPU
    head = revert_sync_batchnorm(head)
    head.init_weights()
    head.train()
    out = head(torch.randn(3, 1024, 14, 14))
    assert out.shape == (3, 2048, 7, 7)
    # the extra norm normalises each channel over the batch in training
    assert out.mean((0, 2, 3)).abs().max() < 1e-4


def test_norm_eval_freezes_every_norm_and_bad_norm_cfg_raises():
    head = MODELS.build(dict(type='SharedResLayerExtraNorm', depth=50, norm_eval=True))
    head.train()
    assert not head.norm.training and not head.layer4[0].bn1.training
    with pytest.raises(TypeError, match='shared_head.norm_cfg'):
        MODELS.build(dict(type='SharedResLayerExtraNorm', depth=50, norm_cfg='SyncBN'))
