# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""Each compatibility fix, shown to be needed (it fails without) and to work (with)."""
import os
import os.path as osp
import subprocess
import sys
import types

import numpy as np
import pytest
import torch

import mmtobias  # noqa: F401
from mmtobias.testing import free_port, make_image_folder
from mmtobias.utils import compat
from mmtobias.utils.compat import numpy2_adjust_hue

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

PY = sys.executable

# MoCo v2 shrunk to run in seconds on a CPU: ResNet-18, tiny queue, 8 images.
TINY_MOCO = [
    'model.backbone.depth=18', 'model.neck.in_channels=512', 'model.neck.hid_channels=32',
    'model.neck.out_channels=16', 'model.feat_dim=16', 'model.queue_len=16',
    'train_dataloader.batch_size=2', 'train_dataloader.num_workers=0',
    'train_dataloader.persistent_workers=False', 'train_cfg.max_epochs=1',
    'default_hooks.logger.interval=1', 'env_cfg.cudnn_benchmark=False',
]


def run(cmd, env=None, timeout=600):
    full_env = dict(os.environ, PYTHONPATH=REPO_ROOT, OMP_NUM_THREADS='1')
    full_env.update(env or {})
    return subprocess.run(
        cmd, cwd=REPO_ROOT, env=full_env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope='module')
def trained_work_dir(tmp_path_factory):
    """One real 1-epoch MoCo v2 run through tools/train.py (shared by the tests below)."""
    root = tmp_path_factory.mktemp('compat')
    data = str(root / 'images')
    make_image_folder(data, num_images=4, size=(64, 64))
    work_dir = str(root / 'work')
    result = run([
        PY, 'tools/train.py', 'configs/mocov2_r50.py', '--work-dir', work_dir,
        '--cfg-options', f'train_dataloader.dataset.data_root={data}', *TINY_MOCO
    ])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return data, work_dir


@pytest.mark.slow
def test_runner_checkpoint_needs_and_gets_the_allow_list(trained_work_dir):
    _, work_dir = trained_work_dir
    ckpt = osp.join(work_dir, 'epoch_1.pth')
    assert osp.isfile(ckpt)
    # Without mmtobias, torch's weights_only default rejects an MMEngine checkpoint.
    bare = run([PY, '-c', f'import torch; torch.load({ckpt!r})'])
    assert bare.returncode != 0 and 'weights_only' in bare.stderr
    # With mmtobias imported, the same default load works and weights_only stays on.
    fixed = run([PY, '-c', f'import mmtobias, torch; c = torch.load({ckpt!r}); '
                 'print(sorted(c)[:3])'])
    assert fixed.returncode == 0, fixed.stderr[-2000:]
    from mmengine.runner import load_checkpoint
    from mmpretrain.models import ResNet
    load_checkpoint(ResNet(depth=18), ckpt, revise_keys=[(r'^backbone\.', '')], strict=False)


@pytest.mark.slow
def test_train_resume_says_it_resumed(trained_work_dir):
    data, work_dir = trained_work_dir
    result = run([
        PY, 'tools/train.py', 'configs/mocov2_r50.py', '--work-dir', work_dir, '--resume',
        '--cfg-options', f'train_dataloader.dataset.data_root={data}', *TINY_MOCO,
        'train_cfg.max_epochs=2'
    ])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert 'resumed epoch: 1' in result.stdout + result.stderr
    assert osp.isfile(osp.join(work_dir, 'epoch_2.pth'))


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.is_available(), reason='tests the CPU-only path')
def test_init_dist_on_cpu_falls_back_to_gloo():
    code = ('import sys\n'
            'if sys.argv[1] == "1": import mmtobias\n'
            'from mmengine.dist import init_dist, get_world_size\n'
            'import torch.distributed as d\n'
            'init_dist("pytorch", backend="nccl")\n'
            'print("backend", d.get_backend(), get_world_size())\n')
    env = dict(RANK='0', LOCAL_RANK='0', WORLD_SIZE='1', MASTER_ADDR='127.0.0.1',
               MASTER_PORT=str(free_port()))
    bare = run([PY, '-c', code, '0'], env=env)
    assert bare.returncode != 0  # torch.cuda.set_device / NCCL without CUDA
    env['MASTER_PORT'] = str(free_port())
    fixed = run([PY, '-c', code, '1'], env=env)
    assert fixed.returncode == 0, fixed.stderr[-2000:]
    assert 'backend gloo 1' in fixed.stdout


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.is_available(), reason='tests the CPU-only path')
def test_dist_train_two_cpu_processes(tmp_path):
    data = str(tmp_path / 'images')
    make_image_folder(data, num_images=8, size=(64, 64))
    work_dir = str(tmp_path / 'work')
    result = run([
        'bash', 'tools/dist_train.sh', 'configs/mocov2_r50.py', '2', '--work-dir', work_dir,
        '--cfg-options', f'train_dataloader.dataset.data_root={data}', *TINY_MOCO
    ], env=dict(PYTHON=PY, PORT=str(free_port())))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert osp.isfile(osp.join(work_dir, 'epoch_1.pth'))
    assert 'Distributed launcher: pytorch' in result.stdout + result.stderr


@pytest.mark.slow
def test_mmselfsup_and_mmpretrain_import_together():
    pytest.importorskip('mmselfsup')
    bare = run([PY, '-c', 'import mmpretrain.models, mmselfsup.models'])
    assert bare.returncode != 0 and 'already registered' in bare.stderr
    fixed = run([PY, '-c', 'import mmtobias, mmpretrain.models, mmselfsup.models; '
                 'from mmdet.registry import MODELS; print(MODELS.get("ResLayerExtraNorm"))'])
    assert fixed.returncode == 0, fixed.stderr[-2000:]


def test_components_reachable_from_mmselfsup_scope():
    pytest.importorskip('mmselfsup')
    import mmpretrain.registry
    import mmselfsup.registry
    ours = [k for k, v in mmpretrain.registry.MODELS.module_dict.items()
            if v.__module__.startswith('mmtobias.')]
    if not ours:
        pytest.skip('no mmtobias model registered yet')
    assert all(k in mmselfsup.registry.MODELS.module_dict for k in ours)


@pytest.mark.slow
def test_mmselfsup_scope_builds_loops():
    pytest.importorskip('mmselfsup')
    # mmselfsup's registries declare a module its wheel lacks
    bare = run([PY, '-c', 'import os, mmselfsup.registry as r; print(r.LOOPS._locations); '
                'print(os.listdir(os.path.join(os.path.dirname(r.__file__), "engine")))'])
    assert bare.returncode == 0, bare.stderr[-2000:]
    declared, shipped = bare.stdout.strip().splitlines()
    assert declared == "['mmselfsup.engine.runner']" and "'runner'" not in shipped
    fixed = run([PY, '-c', 'import mmtobias; from mmengine.registry import DefaultScope; '
                 'import mmselfsup.registry as r; '
                 'DefaultScope.get_instance("t", scope_name="mmselfsup"); '
                 'print(r.LOOPS.get("EpochBasedTrainLoop"))'])
    assert fixed.returncode == 0, fixed.stderr[-2000:]
    assert 'mmengine.runner.loops.EpochBasedTrainLoop' in fixed.stdout


def test_num_workers_0_turns_persistent_workers_off(tmp_path):
    from mmengine.logging import MMLogger
    from mmengine.runner import Runner
    from torch.utils.data import DataLoader
    logger = MMLogger.get_instance('test_num_workers_0', log_file=str(tmp_path / 'log.txt'))
    cfg = dict(batch_size=2, num_workers=0, persistent_workers=True,
               sampler=dict(type='DefaultSampler', shuffle=False),
               dataset=dict(type='mmpretrain.CustomDataset', data_root=str(tmp_path),
                            with_label=False, pipeline=[]))
    make_image_folder(str(tmp_path), num_images=2)
    bare = dict(cfg, dataset=list(range(4)), sampler=None)
    with pytest.raises(ValueError, match='persistent_workers option needs num_workers > 0'):
        DataLoader(**{k: v for k, v in bare.items() if k != 'sampler'})
    loader = Runner.build_dataloader(cfg)
    assert loader.num_workers == 0 and not loader.persistent_workers
    assert 'persistent_workers was turned off' in open(tmp_path / 'log.txt').read()
    assert logger is MMLogger.get_current_instance()


class _StrictUint8(np.uint8):
    """numpy 2's scalar rule: an out-of-range value raises instead of wrapping."""

    def __new__(cls, value):
        if np.ndim(value) == 0 and not 0 <= value <= 255:
            raise OverflowError(f'{value} out of bounds for uint8')
        return np.uint8(value)


class _Numpy2Uint8:
    """The numpy module, with numpy 2's uint8 conversion rule."""

    uint8 = _StrictUint8

    def __getattr__(self, name):
        return getattr(np, name)


@pytest.mark.parametrize('backend', ['cv2', 'pillow'])
def test_adjust_hue_negative_factor_under_numpy2_rules(monkeypatch, backend):
    import mmcv
    import mmcv.image.photometric as photometric
    img = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    monkeypatch.setattr(photometric, 'np', _Numpy2Uint8())
    with pytest.raises(OverflowError):
        compat._ORIGINAL_ADJUST_HUE(img, -0.1, backend=backend)
    monkeypatch.setattr(numpy2_adjust_hue, 'np', _Numpy2Uint8())  # the fix's module
    out = mmcv.adjust_hue(img, -0.1, backend=backend)  # what mmpretrain's ColorJitter calls
    monkeypatch.undo()
    # Same result as mmcv under numpy 1 (hue shifted by -25 mod 256).
    np.testing.assert_array_equal(out, compat._ORIGINAL_ADJUST_HUE(img, -0.1, backend=backend))
    assert isinstance(mmcv.adjust_hue, types.FunctionType)


OLD_NAMES = [  # the names of the single compat.py this package replaced
    'apply_all', 'allow_mmengine_checkpoints', 'enable_cpu_distributed',
    'tolerate_mmselfsup_double_registration', 'fix_collate_fn_scope', 'fix_numpy2_adjust_hue',
    'fix_mmselfsup_registry_locations', 'turn_off_broken_mmpretrain_multimodal',
    'run_amp_optim_wrapper_without_cuda', 'mmpretrain_multimodal_blocker',
    'mmpretrain_multimodal_status', 'cpu_computes_bf16', 'mmengine_checkpoint_safe_globals',
    '_APPLIED', '_ORIGINAL_ADJUST_HUE', '_once', '_cpu_only', '_fix_dataloader_cfg',
    '_adjust_hue_modular', '_MMPRETRAIN_LAST_CHECKED', '_FIRST_BREAKING_TRANSFORMERS',
    '_MULTIMODAL_MODELS', '_MULTIMODAL_OFF', '_installed_version', '_release',
    '_register_turned_off', '_amp_device_available', '_AMP_WARNED', '_autocast_instead_of_amp'
]


def test_every_name_of_the_old_module_is_importable():
    for name in OLD_NAMES:
        assert getattr(compat, name) is not None, name
    # read live: set when the fix was applied (by import mmtobias)
    assert compat._ORIGINAL_ADJUST_HUE is numpy2_adjust_hue._ORIGINAL_ADJUST_HUE
    assert set(compat.__all__) <= set(dir(compat))
    with pytest.raises(AttributeError, match='has no attribute'):
        compat._no_such_helper


def test_one_documented_module_per_fix_applied_once_in_order():
    modules = {fix.__module__ for fix in compat.FIXES}
    assert len(modules) == len(compat.FIXES) == 8  # one module per fix
    assert compat.FIXES[0] is compat.turn_off_broken_mmpretrain_multimodal  # first
    for name in modules:
        doc = sys.modules[name].__doc__
        for section in ('What breaks:', 'Versions:', 'The fix:', 'Detected / tested:'):
            assert section in doc, (name, section)
    assert {fix.__name__ for fix in compat.FIXES} <= compat._APPLIED  # by import mmtobias
    assert all(fix() is False for fix in compat.FIXES)  # a second call does nothing
