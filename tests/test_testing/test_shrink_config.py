# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""mmtobias.testing.configs: the one config shrinker (shrink_config) and dict walk."""
import os.path as osp

import pytest
from mmengine.config import Config

import mmtobias  # noqa: F401
from mmpretrain.registry import MODELS
from mmtobias.testing import shrink_config, tiny_pretrain_config, walk_dicts

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

# the mask file written on the hook and on each transform (the layout before the
# top-level `mask_file`)
OLD_LAYOUT = dict(
    model=dict(type='MoCo', queue_len=65536, feat_dim=128,
               backbone=dict(type='ResNet', depth=50, norm_cfg=dict(type='SyncBN')),
               neck=dict(type='MoCoV2Neck', in_channels=2048, hid_channels=2048,
                         out_channels=128)),
    train_dataloader=dict(
        batch_size=32, num_workers=8, persistent_workers=True,
        dataset=dict(type='ImageFolderNoLabel', data_root='data/x', pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='MultiView', num_views=[1, 1], transforms=[
                [dict(type='BackgroundSwap', mask_file='old.tmask'),
                 dict(type='RandomResizedCrop', scale=224)],
                [dict(type='CopyPaste', mask_file='old.tmask'),
                 dict(type='RandomResizedCrop', scale=224)]]),
        ])),
    custom_hooks=[dict(type='TobiasMaskGenerator', mask_file='old.tmask', arch='resnet50')],
    default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=10)),
    env_cfg=dict(cudnn_benchmark=True))


def mask_files(cfg):
    return [node['mask_file'] for node in walk_dicts(cfg) if 'mask_file' in node]


def test_walk_dicts_yields_every_nested_dict_parents_first():
    cfg = Config(dict(a=dict(b=[dict(c=1), (dict(d=2), 3)]), e=4))
    found = list(walk_dicts(cfg))
    assert found[0] is cfg._cfg_dict
    assert [sorted(d) for d in found[1:]] == [['b'], ['c'], ['d']]
    assert list(walk_dicts([1, 'x', None])) == []


def test_old_layout_gets_the_mask_file_everywhere_and_on_top():
    cfg = shrink_config(Config(OLD_LAYOUT), data_root='/images', mask_file='/m.tmask')
    assert cfg.mask_file == '/m.tmask'
    assert mask_files(cfg) == ['/m.tmask'] * 4  # top, swap, copy-paste, hook
    hook = cfg.custom_hooks[0]
    assert (hook.arch, hook.precision, hook.batch_size, hook.num_workers) == \
        ('resnet18', 'fp32', 4, 0)


def test_new_layout_gets_the_top_level_mask_file_only():
    cfg = Config(OLD_LAYOUT)
    for node in walk_dicts(cfg):
        node.pop('mask_file', None)
    cfg.mask_file = 'work_dirs/masks.tmask'
    shrink_config(cfg, mask_file='/m.tmask')
    assert mask_files(cfg) == ['/m.tmask']
    assert 'mask_file' not in cfg.custom_hooks[0]


def test_sizes_loaders_and_schedule():
    cfg = shrink_config(Config(OLD_LAYOUT), data_root='/images', width=8, max_epochs=2,
                        save_checkpoint=False, work_dir='/work')
    backbone = cfg.model.backbone
    assert (backbone.depth, backbone.stem_channels, backbone.base_channels) == (18, 8, 8)
    assert backbone.norm_cfg.type == 'BN'
    assert (cfg.model.neck.in_channels, cfg.model.neck.out_channels) == (64, 16)
    assert (cfg.model.queue_len, cfg.model.feat_dim) == (16, 16)
    loader = cfg.train_dataloader
    assert (loader.batch_size, loader.num_workers, loader.persistent_workers,
            loader.drop_last, loader.dataset.data_root) == (2, 0, False, True, '/images')
    assert [n['scale'] for n in walk_dicts(loader) if 'scale' in n] == [32, 32]
    assert cfg.train_cfg == dict(type='EpochBasedTrainLoop', max_epochs=2)
    assert cfg.default_hooks.checkpoint.save_last is False
    assert cfg.env_cfg.cudnn_benchmark is False
    assert (cfg.randomness.seed, cfg.work_dir) == (0, '/work')
    assert 'mask_file' not in cfg  # not asked for


def test_num_workers_none_keeps_the_configs_workers():
    cfg = shrink_config(Config(OLD_LAYOUT), num_workers=None)
    assert (cfg.train_dataloader.num_workers, cfg.train_dataloader.persistent_workers) == \
        (8, True)


@pytest.mark.parametrize('name', ['mocov2_tobias_r50.py', 'insloc_r50-fpn.py'])
def test_repository_configs_shrink_to_a_model_that_builds(name):
    cfg = shrink_config(Config.fromfile(osp.join(REPO, 'configs', name)), width=8,
                        mask_file='/m.tmask')
    assert cfg.mask_file == '/m.tmask' and set(mask_files(cfg)) == {'/m.tmask'}
    model = MODELS.build(cfg.model)
    assert model.backbone.layer4[-1].conv2.out_channels == 64


def test_tiny_pretrain_config_writes_a_loadable_file(tmp_path):
    out = tiny_pretrain_config(osp.join(REPO, 'configs', 'mocov2_tobias_r50.py'),
                               str(tmp_path / 'sub' / 'tiny.py'), '/images', '/m.tmask')
    cfg = Config.fromfile(out)
    assert cfg.model.backbone.depth == 18 and cfg.model.queue_len == 32
    assert cfg.train_dataloader.dataset.data_root == '/images'
    assert set(mask_files(cfg)) == {'/m.tmask'}


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match='model.backbone'):
        shrink_config(Config(dict(a=1)))
    with pytest.raises(ValueError, match='width=12'):
        shrink_config(Config(OLD_LAYOUT), width=12)


@pytest.mark.parametrize('method', ['byol', 'simsiam', 'densecl', 'barlowtwins', 'mocov3',
                                    'swav'])
def test_two_view_method_configs_shrink_to_a_model_that_computes_its_loss(method):
    """Predictor, Barlow Twins' head and SwAV's prototypes follow the 16-d projection."""
    import torch
    from mmpretrain.structures import DataSample

    cfg = shrink_config(
        Config.fromfile(osp.join(REPO, 'configs', method, f'{method}_tobias_r50.py')),
        width=8, mask_file='/m.tmask')
    model = MODELS.build(cfg.model)
    step = next(t for t in cfg.train_dataloader.dataset.pipeline if t.type == 'MultiView')
    num_views = step.num_views if isinstance(step.num_views, int) else sum(step.num_views)
    torch.manual_seed(0)
    inputs = [torch.randn(2, 3, 32, 32) for _ in range(num_views)]
    losses = model(inputs, [DataSample() for _ in range(2)], mode='loss')
    assert losses and all(torch.isfinite(v).all() for v in losses.values()), losses
