# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""tools/initial_checkpoint.py: the weights a pretraining run's first step starts from."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from mmtobias.det import convert_checkpoint
from mmtobias.testing import first_step_state, load_script, make_image_folder, tiny_pretrain_config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

initial_checkpoint = load_script(osp.join(ROOT, 'tools', 'initial_checkpoint.py'))
train = load_script(osp.join(ROOT, 'tools', 'train.py'))

OPTIONS = ['train_dataloader.num_workers=0', 'randomness.seed=3']


@pytest.fixture(scope='module')
def tiny_mocov2(tmp_path_factory):
    """configs/mocov2_r50.py at ResNet-18 width on 4 images (mmtobias.testing)."""
    tmp = tmp_path_factory.mktemp('initial')
    images = str(tmp / 'images')
    make_image_folder(images, num_images=4, size=(64, 56))
    return tiny_pretrain_config(osp.join(ROOT, 'configs', 'mocov2_r50.py'),
                                str(tmp / 'mocov2.py'), images, str(tmp / 'unused.tmask'))


@pytest.mark.slow
def test_initial_checkpoint_is_the_state_of_the_first_step(tiny_mocov2, tmp_path):
    out = str(tmp_path / 'initial.pth')
    initial_checkpoint.main([tiny_mocov2, out, '--work-dir', str(tmp_path / 'init'),
                             '--cfg-options', *OPTIONS])
    saved = torch.load(out, weights_only=True)
    assert saved['meta']['seed'] == 3
    # the same config started by tools/train.py, stopped before its first step
    cfg = train.merge_args(Config.fromfile(tiny_mocov2), train.parse_args(
        [tiny_mocov2, '--work-dir', str(tmp_path / 'run'), '--cfg-options', *OPTIONS]))
    first = first_step_state(cfg)
    assert sorted(saved['state_dict']) == sorted(first)
    for key, value in first.items():
        assert torch.equal(saved['state_dict'][key], value), key
    # the pretraining config's own init (zero_init_residual=False): the last norm of
    # each residual block starts at 1, not 0 as in mmpretrain's ResNet default
    assert cfg.model.backbone.zero_init_residual is False
    assert torch.all(saved['state_dict']['backbone.layer1.0.bn2.weight'] == 1)


@pytest.mark.slow
def test_initial_checkpoint_converts_for_detection_and_follows_the_seed(tiny_mocov2, tmp_path):
    out, other = str(tmp_path / 'seed3.pth'), str(tmp_path / 'seed4.pth')
    for path, seed in ((out, 3), (other, 4)):
        initial_checkpoint.main([tiny_mocov2, path, '--work-dir', str(tmp_path / str(seed)),
                                 '--cfg-options', *OPTIONS[:1], f'randomness.seed={seed}'])
    a = torch.load(out, weights_only=True)['state_dict']
    b = torch.load(other, weights_only=True)['state_dict']
    assert not torch.equal(a['backbone.conv1.weight'], b['backbone.conv1.weight'])
    report = convert_checkpoint(out, str(tmp_path / 'det.pth'), 'c4')
    assert report['format'] == 'openmmlab'
    det = torch.load(str(tmp_path / 'det.pth'), weights_only=True)['state_dict']
    assert torch.equal(det['roi_head.shared_head.layer4.0.conv1.weight'],
                       a['backbone.layer4.0.conv1.weight'])
