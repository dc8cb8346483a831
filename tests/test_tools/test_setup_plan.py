# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""tools/setup.sh decides which mmcv ops to build from torch, nvcc and the GPUs, says
why in one message, and keys the cached wheel by mmcv, Python, torch, CUDA (or cpu) and
the GPU architectures. ``--plan`` reports the decision and changes nothing. A Python it
does not support, or one other than the existing .venv's, stops it before any change."""
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TORCH = torch.__version__.split('+')[0]
NO_GPU = not torch.cuda.is_available()
PYTAG = 'cp%d%d' % sys.version_info[:2]  # the tests run in the .venv's Python

pytestmark = pytest.mark.skipif(
    not osp.isfile(osp.join(REPO, '.venv', 'bin', 'python')),
    reason='setup.sh --plan reads torch from the repository .venv (bash tools/setup.sh)')


def plan(tmp_path, **env):
    """Run ``setup.sh --plan`` with nvcc found only where ``env`` says."""
    full = {k: v for k, v in os.environ.items()
            if k not in ('CUDA_HOME', 'CUDA_PATH', 'TORCH_CUDA_ARCH_LIST',
                         'MMTOBIAS_MMCV_OPS')}
    # a PATH without any nvcc, and no /usr/local/cuda unless CUDA_HOME points there
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir(exist_ok=True)
    full['PATH'] = f'{bin_dir}:/usr/bin:/bin'
    full.update(env)
    return subprocess.run(['bash', osp.join(REPO, 'tools', 'setup.sh'), '--plan'], env=full,
                          capture_output=True, text=True, timeout=120)


def fake_toolkit(root, version):
    """A folder that looks like a CUDA toolkit whose nvcc reports ``version``."""
    (root / 'bin').mkdir(parents=True)
    (root / 'include').mkdir()
    (root / 'include' / 'cuda_runtime.h').write_text('')
    nvcc = root / 'bin' / 'nvcc'
    nvcc.write_text(f'#!/bin/sh\necho "Cuda compilation tools, release {version}, '
                    f'V{version}.0"\n')
    nvcc.chmod(0o755)
    return str(root)


@pytest.mark.skipif(not NO_GPU, reason='the default here is CUDA ops')
@pytest.mark.slow
def test_default_without_a_gpu_is_a_cpu_build_keyed_cpu(tmp_path):
    result = plan(tmp_path)
    assert result.returncode == 0, result.stderr
    assert 'mmcv ops: CPU ops only (MMTOBIAS_MMCV_OPS=auto)' in result.stdout
    assert f'cache key: mmcv-2.0.1+{PYTAG}+torch{TORCH}+cpu\n' in result.stdout
    assert 'why not CUDA:' in result.stdout
    assert 'MMTOBIAS_MMCV_OPS=cuda' in result.stdout


@pytest.mark.skipif(torch.version.cuda is None, reason='torch is a CPU build')
@pytest.mark.slow
def test_nvcc_of_another_major_version_is_named_with_the_fix(tmp_path):
    other = int(torch.version.cuda.split('.')[0]) - 1
    home = fake_toolkit(tmp_path / 'cuda', f'{other}.4')
    result = plan(tmp_path, CUDA_HOME=home)
    assert result.returncode == 0, result.stderr
    assert f'nvcc {other}.4 found ({home}/bin/nvcc), but torch {torch.__version__} is ' \
        f'built for CUDA {torch.version.cuda}' in result.stdout
    assert f'install the CUDA {torch.version.cuda.split(".")[0]}.x toolkit' in result.stdout
    assert f'+torch{TORCH}+cpu' in result.stdout
    forced = plan(tmp_path, CUDA_HOME=home, MMTOBIAS_MMCV_OPS='cuda')
    assert forced.returncode == 1
    assert 'MMTOBIAS_MMCV_OPS=cuda cannot be met: nvcc' in forced.stderr
    assert 'or set MMTOBIAS_MMCV_OPS=cpu' in forced.stderr


@pytest.mark.skipif(torch.version.cuda is None, reason='torch is a CPU build')
@pytest.mark.slow
def test_forced_cuda_build_takes_the_arch_list_into_the_key(tmp_path):
    home = fake_toolkit(tmp_path / 'cuda', torch.version.cuda)
    result = plan(tmp_path, CUDA_HOME=home, MMTOBIAS_MMCV_OPS='cuda',
                  TORCH_CUDA_ARCH_LIST='8.0;9.0+PTX')
    assert result.returncode == 0, result.stderr
    cu = torch.version.cuda.replace('.', '')
    assert f'cache key: mmcv-2.0.1+{PYTAG}+torch{TORCH}+cu{cu}+sm80_90ptx\n' in result.stdout
    assert 'for compute capability 8.0;9.0+PTX' in result.stdout


@pytest.mark.skipif(not NO_GPU or torch.version.cuda is None,
                    reason='needs a CUDA build of torch and no GPU')
@pytest.mark.slow
def test_forced_cuda_without_gpu_or_arch_list_stops_before_compiling(tmp_path):
    home = fake_toolkit(tmp_path / 'cuda', torch.version.cuda)
    result = plan(tmp_path, CUDA_HOME=home, MMTOBIAS_MMCV_OPS='cuda')
    assert result.returncode == 1
    assert 'no GPU is visible to take the compute capabilities from: set ' \
        'TORCH_CUDA_ARCH_LIST' in result.stderr
    if not osp.exists('/usr/local/cuda/bin/nvcc'):  # no nvcc anywhere
        missing = plan(tmp_path, MMTOBIAS_MMCV_OPS='cuda')
        assert missing.returncode == 1 and 'no nvcc found' in missing.stderr


@pytest.mark.slow
def test_forced_cpu_and_bad_values(tmp_path):
    result = plan(tmp_path, MMTOBIAS_MMCV_OPS='cpu')
    assert result.returncode == 0, result.stderr
    assert 'mmcv ops: CPU ops only (MMTOBIAS_MMCV_OPS=cpu)' in result.stdout
    assert f'+torch{TORCH}+cpu' in result.stdout
    bad = plan(tmp_path, MMTOBIAS_MMCV_OPS='gpu')
    assert bad.returncode == 1 and 'MMTOBIAS_MMCV_OPS=gpu is not one of auto, cuda, cpu' \
        in bad.stderr


def fake_python(root, prints):
    """An executable that answers setup.sh's version probe with ``prints``."""
    exe = root / 'python'
    exe.write_text(f'#!/bin/sh\ncat > /dev/null\necho "{prints}"\n' if prints else
                   '#!/bin/sh\nexit 1\n')
    exe.chmod(0o755)
    return str(exe)


def setup(env):
    full = dict(os.environ, **env)
    return subprocess.run(['bash', osp.join(REPO, 'tools', 'setup.sh')], env=full,
                          capture_output=True, text=True, timeout=120)


def test_an_unsupported_python_is_refused_before_any_change(tmp_path):
    result = setup(dict(PYTHON=fake_python(tmp_path, '')))
    assert result.returncode == 1
    assert 'is not a Python 3.12 or 3.11 or 3.10 that runs here' in result.stderr


def test_another_python_than_the_venvs_is_refused(tmp_path):
    other = '3.10' if sys.version_info[:2] != (3, 10) else '3.12'
    result = setup(dict(PYTHON=fake_python(tmp_path, other)))
    assert result.returncode == 1
    venv = '%d.%d' % sys.version_info[:2]
    assert f'has Python {venv}, not the {other} of PYTHON=' in result.stderr
    assert 'delete' in result.stderr
