# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""tools/collect_env.py: the OpenMMLab-style report, which mmcv ops are compiled, and
warnings that name the fix."""
import importlib.util
import json
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def load_collect_env():
    spec = importlib.util.spec_from_file_location(
        'collect_env', osp.join(REPO, 'tools', 'collect_env.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_report(tmp_path, site=None):
    out = str(tmp_path / 'env.json')
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (site, REPO) if p),
               OMP_NUM_THREADS='1')
    result = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools', 'collect_env.py'), '--json', out], cwd=REPO,
        env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    with open(out) as f:
        return result.stdout, json.load(f)


@pytest.mark.skipif(torch.cuda.is_available(), reason='tests the CPU-only report')
@pytest.mark.slow
def test_report_on_a_cpu_machine(tmp_path):
    pytest.importorskip('mmcv.ops', reason='this environment has no compiled mmcv ops')
    stdout, report = run_report(tmp_path)
    for key in ('PyTorch', 'TorchVision', 'MMEngine', 'mmcv', 'mmdet', 'mmpretrain',
                'mmtobias', 'cuDNN', 'torch built for CUDA'):
        assert f'\n{key}: ' in '\n' + stdout, key
    assert report['GPUs'] == 0
    assert report['mmcv ops'] == 'compiled for CPU only'
    assert report['mmcv RoIAlign (CPU)'] == 'ok'
    assert report['torchvision roi_align (CPU)'] == 'ok'
    assert 'mmcv RoIAlign (CUDA)' not in report
    assert report['warnings'] == []
    assert any('no GPU is visible' in n for n in report['notes'])
    assert 'NOTE: no GPU is visible' in stdout


@pytest.mark.slow
def test_report_without_compiled_mmcv_ops_names_the_fix(tmp_path):
    # the installed mmcv without its compiled extension (as mmcv-lite), first on the path
    real = importlib.util.find_spec('mmcv').submodule_search_locations[0]
    (tmp_path / 'site' / 'mmcv').mkdir(parents=True)
    for name in os.listdir(real):
        if not name.startswith('_ext'):
            os.symlink(osp.join(real, name), tmp_path / 'site' / 'mmcv' / name)
    stdout, report = run_report(tmp_path, site=str(tmp_path / 'site'))
    assert report['mmcv ops'].startswith('not compiled')
    assert "No module named 'mmcv._ext'" in report['mmcv ops']
    assert report['mmcv RoIAlign (CPU)'] == 'skipped'
    assert report['torchvision roi_align (CPU)'] == 'ok'
    (warning, ) = report['warnings']
    assert 'bash tools/setup.sh' in warning and 'pretraining' in warning
    assert 'WARNING: mmcv has no compiled ops' in stdout


def test_cpu_only_mmcv_with_a_gpu_warns_with_the_cuda_fix():
    collect_env = load_collect_env()
    env = {'GPUs': 1, '_mmcv_ops_kind': 'cpu', 'mmcv RoIAlign (CUDA)':
           'RuntimeError: roi_align_forward_impl: implementation for device cuda:0 not found.',
           'torchvision roi_align (CUDA)': 'ok'}
    warnings, notes = collect_env.check(env)
    (warning, ) = warnings
    assert warning.startswith('mmcv ops are compiled for CPU only, but a GPU is visible')
    assert 'MMTOBIAS_MMCV_OPS=cuda bash tools/setup.sh' in warning
    assert notes == []
    env.update({'_mmcv_ops_kind': 'cuda', 'mmcv RoIAlign (CUDA)': 'ok'})
    assert collect_env.check(env) == ([], [])


def test_roi_align_checks_run_on_cpu():
    collect_env = load_collect_env()
    assert collect_env.run_torchvision_roi_align('cpu') is None
    status = collect_env.mmcv_ops_status()
    assert status['kind'] in ('cpu', 'cuda', 'none')
    if status['kind'] != 'none':
        assert collect_env.run_mmcv_roi_align('cpu') is None
