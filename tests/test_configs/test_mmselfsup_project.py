# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""An existing mmselfsup 1.x project adds Tobias by config and trains.

The project's config inherits mmselfsup's stock MoCo v2 config (its ImageNet
``meta/train.txt`` layout, mmselfsup's transforms and ``default_scope='mmselfsup'``),
imports mmtobias and inserts the hook and the swap: nothing else. The mask file is set
once, at the top level: the hook reads it there and hands it to the swap.
"""
import os
import os.path as osp

import pytest
import torch

from mmtobias.testing import load_script, make_image_folder

pytest.importorskip('mmselfsup')

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

PROJECT_CONFIG = '''
_base_ = 'mmselfsup::selfsup/mocov2/mocov2_resnet50_8xb32-coslr-200e_in1k.py'
custom_imports = dict(imports=['mmtobias'], allow_failed_imports=False)

data_root = {data_root!r}
mask_file = {mask_file!r}

# the project's own size choices for a CPU test: ResNet-18, 32 px, a small queue
model = dict(
    queue_len=32, feat_dim=16,
    backbone=dict(depth=18, norm_cfg=dict(type='BN')),
    neck=dict(in_channels=512, hid_channels=32, out_channels=16))
view_pipeline = [dict(_base_.view_pipeline[0], size=32), *_base_.view_pipeline[1:]]

# what mmtobias adds: the swap on the query view, the hook that makes the masks in
# `mask_file` and hands the path to the swap
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='MultiView',
        num_views=[1, 1],
        transforms=[[dict(type='BackgroundSwap', prob=1.0, mode='swap'), *view_pipeline],
                    view_pipeline]),
    dict(type='PackSelfSupInputs', meta_keys=['img_path'])
]
custom_hooks = [
    dict(type='TobiasMaskGenerator', seed=0, arch='resnet18', precision='fp32',
         batch_size=4, num_workers=0)
]

train_dataloader = dict(
    batch_size=2,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
train_cfg = dict(max_epochs=1)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=1))
env_cfg = dict(cudnn_benchmark=False)
'''


def _imagenet_layout(root, num_images=4):
    """mmselfsup's ImageNet layout: train/<class>/<file> and meta/train.txt."""
    paths = make_image_folder(osp.join(root, 'train'), num_images=num_images,
                              size=(64, 56), classes=('n01', 'n02'))
    lines = [f'{osp.relpath(p, osp.join(root, "train"))} {i % 2}\n'
             for i, p in enumerate(paths)]
    meta = osp.join(root, 'meta')
    os.makedirs(meta)
    with open(osp.join(meta, 'train.txt'), 'w') as f:
        f.writelines(lines)


@pytest.mark.slow
def test_stock_mmselfsup_mocov2_config_trains_with_the_swap_and_the_hook(tmp_path):
    train_tool = load_script(osp.join(ROOT, 'tools', 'train.py'))

    data_root = str(tmp_path / 'imagenet') + '/'
    _imagenet_layout(data_root)
    mask_file = str(tmp_path / 'masks.tmask')
    config = tmp_path / 'mocov2_tobias_mmselfsup.py'
    config.write_text(PROJECT_CONFIG.format(data_root=data_root, mask_file=mask_file))

    torch.manual_seed(0)
    runner = train_tool.main([
        str(config), '--work-dir', str(tmp_path / 'work'), '--cfg-options',
        'train_dataloader.num_workers=0'
    ])
    assert runner.iter == 2
    assert runner.cfg.default_scope == 'mmselfsup'
    assert type(runner.model).__module__.startswith('mmselfsup.')
    assert osp.isfile(mask_file)
    assert osp.isfile(str(tmp_path / 'work' / 'epoch_1.pth'))
