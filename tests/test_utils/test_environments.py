# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""mmtobias in the environments researchers have.

- transformers 5 beside mmpretrain 1.2.0: ``import mmtobias``, ``tools/train.py``,
  ``tools/det_train.py`` and ``tools/collect_env.py`` work, with the real transformers 5
  package (installed once from PyPI into a folder under the mmtobias cache and put first
  on ``PYTHONPATH``; no stand-in module). The same with the last 4.x (4.52 already
  breaks mmpretrain's multimodal part), and with 4.51, where that part imports and stays
  on. Without transformers is this environment.
- A stock GPU config (mmpretrain's MoCo v3 ResNet-50, ``AmpOptimWrapper``) with the
  swap and the hook mixed in trains on a CPU without edits to its optimizer wrapper.
"""
import os
import os.path as osp
import shutil
import subprocess
import sys

import pytest
import torch

import mmtobias  # noqa: F401
from mmtobias.testing import make_image_folder, tiny_pretrain_config
from mmtobias.utils import compat
from mmtobias.utils.compat import mmpretrain_multimodal

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PY = sys.executable
CACHE = os.environ.get('MMTOBIAS_CACHE', osp.expanduser('~/.cache/mmtobias'))
PYTAG = 'cp%d%d' % sys.version_info[:2]


def site_with(spec, name):
    """A folder holding ``spec`` (and what it needs that this environment lacks, at the
    versions installed here), made once per machine by pip under the mmtobias cache."""
    target = osp.join(CACHE, 'site', f'{name}-{PYTAG}')
    if osp.isfile(osp.join(target, '.complete')):
        return target
    os.makedirs(osp.dirname(target), exist_ok=True)
    tmp = f'{target}.tmp{os.getpid()}'
    shutil.rmtree(tmp, ignore_errors=True)
    # pin what this environment has, so the folder cannot shadow it with other versions
    freeze = subprocess.run([PY, '-m', 'pip', 'freeze', '--exclude-editable'],
                            capture_output=True, text=True, check=True).stdout
    constraints = osp.join(osp.dirname(target), f'constraints-{os.getpid()}.txt')
    with open(constraints, 'w') as f:
        f.writelines(line + '\n' for line in freeze.splitlines() if '==' in line
                     and not line.lower().startswith(('transformers==', 'mmtobias==')))
    result = subprocess.run(
        [PY, '-m', 'pip', 'install', '--disable-pip-version-check', '--quiet',
         '--target', tmp, '--constraint', constraints, spec],
        capture_output=True, text=True, timeout=900)
    os.remove(constraints)
    if result.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        pytest.fail(f'pip could not install {spec!r} into {tmp} (PyPI is needed once per '
                    f'machine):\n{result.stderr[-3000:]}')
    open(osp.join(tmp, '.complete'), 'w').close()
    shutil.rmtree(target, ignore_errors=True)
    os.replace(tmp, target)
    return target


@pytest.fixture(scope='module')
def transformers5():
    return site_with('transformers>=5,<6', 'transformers5')


@pytest.fixture(scope='module')
def transformers4_late():  # 4.52 and later: mmpretrain's multimodal part breaks
    return site_with('transformers>=4.52,<5', 'transformers4.52+')


@pytest.fixture(scope='module')
def transformers4_early():  # before 4.52: it imports
    return site_with('transformers>=4.28,<4.52', 'transformers4.28-4.51')


def run(args, site=None, timeout=600, cwd=REPO):
    env = dict(os.environ, OMP_NUM_THREADS='1',
               PYTHONPATH=os.pathsep.join(p for p in (site, REPO) if p))
    env.pop('PYTHONWARNINGS', None)
    return subprocess.run([PY, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


def ok(result):
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-4000:]
    return result


IMPORT_CHECK = '''
import importlib.metadata, sys
{first}
import mmtobias
import mmpretrain.models
from mmpretrain.registry import MODELS
from mmpretrain.utils import dependency
print('transformers', importlib.metadata.version('transformers'))
print('multimodal', dependency.WITH_MULTIMODAL)
try:
    MODELS.build(dict(type='BlipCaption'))
except ImportError as e:
    print('placeholder:', e)
except TypeError as e:  # the real model, built without its arguments
    print('real model:', e)
'''

WARNING = "mmtobias turned off mmpretrain's multimodal models"


# --- the fix is needed, and works, with transformers 5 -----------------------------

@pytest.mark.slow
def test_transformers5_breaks_mmpretrain_without_the_fix(transformers5):
    result = run(['-c', 'import mmpretrain.models'], site=transformers5)
    assert result.returncode != 0
    assert 'NoneType takes no arguments' in result.stderr, result.stderr[-2000:]


@pytest.mark.slow
@pytest.mark.parametrize('first', ['', 'import mmpretrain  # an OpenMMLab tool first'])
def test_import_mmtobias_with_transformers5(transformers5, first):
    result = ok(run(['-c', IMPORT_CHECK.format(first=first)], site=transformers5))
    assert 'transformers 5.' in result.stdout
    assert 'multimodal False' in result.stdout
    # a config naming a multimodal model gets the reason, not "pip install" advice
    assert 'BlipCaption is one of mmpretrain\'s multimodal models, which mmtobias ' \
        'turned off: transformers 5.' in result.stdout
    assert "install 'transformers>=4.28,<4.52'" in result.stdout
    assert result.stderr.count(WARNING) == 1, result.stderr


@pytest.mark.slow
def test_train_and_tools_with_transformers5(transformers5, tmp_path):
    data = str(tmp_path / 'images')
    make_image_folder(data, num_images=4, size=(64, 56))
    config = tiny_pretrain_config(
        osp.join(REPO, 'configs', 'mocov2_tobias_r50.py'), str(tmp_path / 'tobias.py'),
        data, str(tmp_path / 'masks.tmask'))
    result = ok(run([osp.join(REPO, 'tools', 'train.py'), config, '--work-dir',
                     str(tmp_path / 'work'), '--cfg-options',
                     'train_dataloader.num_workers=0'], site=transformers5))
    assert 'Epoch(train) [1][2/2]' in result.stdout + result.stderr
    assert osp.isfile(tmp_path / 'work' / 'epoch_1.pth')
    assert osp.isfile(tmp_path / 'masks.tmask')
    assert (result.stdout + result.stderr).count(WARNING) == 1

    report = ok(run([osp.join(REPO, 'tools', 'collect_env.py')], site=transformers5))
    assert '\ntransformers: 5.' in report.stdout
    assert '\nimport mmtobias: ok' in report.stdout
    assert '\nmmpretrain multimodal: off (turned off by mmtobias: transformers 5.' \
        in report.stdout
    # det_train imports mmdet (whose language models import transformers) and mmtobias
    ok(run([osp.join(REPO, 'tools', 'det_train.py'), '--help'], site=transformers5))
    ok(run(['-c', 'import mmtobias, mmdet.models, mmtobias.det'], site=transformers5))


@pytest.mark.slow
def test_late_transformers_4_also_needs_the_fix(transformers4_late):
    broken = run(['-c', 'import mmpretrain.models'], site=transformers4_late)
    assert broken.returncode != 0 and 'NoneType takes no arguments' in broken.stderr
    result = ok(run(['-c', IMPORT_CHECK.format(first='')], site=transformers4_late))
    assert 'transformers 4.' in result.stdout and 'multimodal False' in result.stdout
    assert result.stderr.count(WARNING) == 1, result.stderr


@pytest.mark.slow
def test_transformers_before_4_52_keeps_the_multimodal_part(transformers4_early):
    result = ok(run(['-c', IMPORT_CHECK.format(first='')], site=transformers4_early))
    assert 'transformers 4.' in result.stdout
    assert 'multimodal True' in result.stdout
    assert 'real model: BlipCaption.__init__() missing' in result.stdout
    assert WARNING not in result.stderr
    report = ok(run([osp.join(REPO, 'tools', 'collect_env.py')], site=transformers4_early))
    assert '\nmmpretrain multimodal: on (' in report.stdout


def test_without_transformers_nothing_is_turned_off():
    pytest.importorskip('mmpretrain')
    if compat._installed_version('transformers') is not None:
        pytest.skip('transformers is installed in this environment')
    assert compat.mmpretrain_multimodal_blocker() is None
    on, why = compat.mmpretrain_multimodal_status()
    assert on is False and 'needs transformers' in why


@pytest.mark.parametrize('transformers,mmpretrain,blocked', [
    ('5.0.0', '1.2.0', True), ('5.17.1', '1.2.0', True), ('5.0.0rc1', '1.2.0', True),
    ('4.57.3', '1.2.0', True), ('4.52.0', '1.2.0', True), ('4.51.3', '1.2.0', False),
    ('4.28.0', '1.0.0', False), (None, '1.2.0', False),
    ('5.1.0', '1.3.0', False), ('5.1.0', None, False)])
def test_the_version_gate(monkeypatch, transformers, mmpretrain, blocked):
    versions = dict(transformers=transformers, mmpretrain=mmpretrain)
    monkeypatch.setattr(mmpretrain_multimodal, '_installed_version', versions.get)
    assert (compat.mmpretrain_multimodal_blocker() is not None) is blocked


# --- AmpOptimWrapper without CUDA -------------------------------------------------

@pytest.mark.skipif(torch.cuda.is_available(), reason='tests the CPU fallback')
@pytest.mark.parametrize('dtype', [None, 'float16', 'bfloat16'])
def test_amp_optim_wrapper_is_built_as_autocast_on_a_cpu(dtype):
    from mmengine.optim import AmpOptimWrapper, build_optim_wrapper

    from mmtobias.engine.optimizers import AutocastOptimWrapper
    model = torch.nn.Linear(2, 2)
    cfg = dict(type='AmpOptimWrapper', loss_scale='dynamic',
               optimizer=dict(type='SGD', lr=0.1))
    if dtype is not None:
        cfg['dtype'] = dtype
    wrapper = build_optim_wrapper(model, cfg)
    assert isinstance(wrapper, AutocastOptimWrapper)
    assert not isinstance(wrapper, AmpOptimWrapper)
    expected = 'bfloat16' if dtype == 'bfloat16' or compat.cpu_computes_bf16() else 'float32'
    assert wrapper.dtype == expected
    loss = model(torch.ones(1, 2)).sum()
    wrapper.update_params(loss)  # a real step


MOCOV3_PROJECT_CONFIG = '''
_base_ = 'mmpretrain::mocov3/mocov3_resnet50_8xb512-amp-coslr-100e_in1k.py'
custom_imports = dict(imports=['mmtobias'], allow_failed_imports=False)

mask_file = {mask_file!r}

# the project's own size choice for a CPU test: 32-px views
view_pipeline1 = [dict(_base_.view_pipeline1[0], scale=32), *_base_.view_pipeline1[1:]]
view_pipeline2 = [dict(_base_.view_pipeline2[0], scale=32), *_base_.view_pipeline2[1:]]

# what mmtobias adds: the swap on the first view, the hook that makes the masks
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='MultiView',
        num_views=[1, 1],
        transforms=[[
            dict(type='BackgroundSwap', prob=1.0, mode='swap', mask_file=mask_file),
            *view_pipeline1
        ], view_pipeline2]),
    dict(type='PackInputs')
]
custom_hooks = [
    dict(type='TobiasMaskGenerator', mask_file=mask_file, seed=0, arch='resnet18',
         precision='fp32', batch_size=4, num_workers=0)
]
train_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False, pin_memory=False,
    dataset=dict(data_root={data_root!r}, pipeline=train_pipeline))
train_cfg = dict(max_epochs=1)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=1))
env_cfg = dict(cudnn_benchmark=False)
'''


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.is_available(), reason='tests the CPU fallback')
def test_stock_mocov3_amp_config_trains_on_a_cpu(tmp_path):
    # mmpretrain's ImageNet layout: train/<class>/<file> listed in meta/train.txt
    data_root = str(tmp_path / 'imagenet')
    paths = make_image_folder(osp.join(data_root, 'train'), num_images=4, size=(64, 56),
                              classes=('n01', 'n02'))
    os.makedirs(osp.join(data_root, 'meta'))
    with open(osp.join(data_root, 'meta', 'train.txt'), 'w') as f:
        f.writelines(f'{osp.relpath(p, osp.join(data_root, "train"))} {i % 2}\n'
                     for i, p in enumerate(paths))
    mask_file = str(tmp_path / 'masks.tmask')
    config = tmp_path / 'mocov3_tobias_project.py'
    config.write_text(MOCOV3_PROJECT_CONFIG.format(data_root=data_root, mask_file=mask_file))
    result = ok(run([osp.join(REPO, 'tools', 'train.py'), str(config), '--work-dir',
                     str(tmp_path / 'work')]))
    log = result.stdout + result.stderr
    assert 'Epoch(train) [1][2/2]' in log
    assert log.count('AmpOptimWrapper needs a CUDA, NPU, MLU or MUSA device') == 1
    assert osp.isfile(mask_file)
    ckpt = torch.load(str(tmp_path / 'work' / 'epoch_1.pth'), map_location='cpu')
    assert any(k.startswith('backbone.layer4') for k in ckpt['state_dict'])
    assert ckpt['meta']['cfg'].count("type='AmpOptimWrapper'") == 1  # the config as written


@pytest.mark.skipif(torch.cuda.is_available(), reason='tests the CPU fallback')
def test_train_amp_flag_takes_the_same_path(tmp_path):
    from mmengine.config import Config

    from mmtobias.testing import load_script
    train = load_script(osp.join(REPO, 'tools', 'train.py'))
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'mocov2_r50.py'))
    cfg = train.merge_args(cfg, train.parse_args([
        'configs/mocov2_r50.py', '--amp', '--work-dir', str(tmp_path)]))
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    from mmengine.optim import build_optim_wrapper

    from mmtobias.engine.optimizers import AutocastOptimWrapper
    wrapper = build_optim_wrapper(torch.nn.Linear(2, 2), cfg.optim_wrapper)
    assert isinstance(wrapper, AutocastOptimWrapper)
