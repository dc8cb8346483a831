# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""Pretraining needs no compiled mmcv op and no mmdet: ``import mmtobias`` loads no
mmdet, mmtobias's own modules (but mmtobias.det) import neither, and MoCo v2 + Tobias
and InsLoc-C4 train through tools/train.py with an mmcv that has no compiled ops (its
``_ext`` extension left out, as in mmcv-lite or an mmcv built with MMCV_WITH_OPS=0).
Detection parts are registered where detection is used.

(mmcv's own ``mmcv.cnn.bricks.transformer``, which every mmpretrain backbone module
imports, tries ``mmcv.ops`` inside a try/except: with compiled ops present ``mmcv.ops``
gets loaded, without them it is skipped. That is no dependency.)"""
import ast
import json
import os
import os.path as osp
import subprocess
import sys

import pytest

from mmtobias.testing import tiny_pretrain_config

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PY = sys.executable


# An mmcv without compiled ops, as `pip install mmcv-lite` or an mmcv built with
# MMCV_WITH_OPS=0 gives: the installed mmcv package, linked file by file into a folder
# that goes first on PYTHONPATH, without its compiled extension mmcv/_ext*.so.
def make_mmcv_without_ops(folder):
    import importlib.util
    real = importlib.util.find_spec('mmcv').submodule_search_locations[0]
    shadow = osp.join(folder, 'mmcv')
    os.makedirs(shadow)
    for name in os.listdir(real):
        if not name.startswith('_ext'):
            os.symlink(osp.join(real, name), osp.join(shadow, name))
    return folder


@pytest.fixture(scope='module')
def no_ops_site(tmp_path_factory):
    return make_mmcv_without_ops(str(tmp_path_factory.mktemp('mmcv_without_ops')))


REPORT = '''
loaded = sorted(m for m in sys.modules
                if m.split('.')[0] == 'mmdet' or m.startswith(('mmcv.ops', 'mmcv._ext')))
print('LOADED ' + json.dumps(loaded))
'''


def run_python(code, cwd=REPO, timeout=900, site=None):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (site, REPO) if p),
               OMP_NUM_THREADS='1')
    return subprocess.run([PY, '-c', code], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def loaded_modules(result):
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    line = [ln for ln in result.stdout.splitlines() if ln.startswith('LOADED ')][-1]
    return json.loads(line[len('LOADED '):])


def train_code(argv):
    return ('import json, runpy, sys\n'
            'from mmengine.utils.dl_utils import mmcv_full_available\n'
            'assert not mmcv_full_available()  # what mmcv-lite looks like\n'
            f'sys.argv = {argv!r}\n'
            f"runpy.run_path({osp.join(REPO, 'tools', 'train.py')!r}, run_name='__main__')\n"
            ) + REPORT


@pytest.mark.slow
def test_import_mmtobias_loads_no_mmdet():
    loaded = loaded_modules(run_python('import sys, json\nimport mmtobias\n' + REPORT))
    assert [m for m in loaded if m.split('.')[0] == 'mmdet'] == []


def test_own_modules_import_no_mmcv_op_and_no_mmdet():
    """Every mmtobias module but mmtobias.det, read with ast (imports inside functions
    count too)."""
    root = osp.join(REPO, 'mmtobias')
    offenders = []
    for folder, _, files in os.walk(root):
        if osp.relpath(folder, root).split(os.sep)[0] == 'det':
            continue
        for name in files:
            if not name.endswith('.py'):
                continue
            path = osp.join(folder, name)
            with open(path) as f:
                tree = ast.parse(f.read())
            for node in ast.walk(tree):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                         [node.module or ''] if isinstance(node, ast.ImportFrom) else [])
                offenders += [f'{osp.relpath(path, REPO)}: {n}' for n in names
                              if n.split('.')[0] == 'mmdet' or n.startswith('mmcv.ops')]
    assert offenders == []


@pytest.mark.slow
def test_import_mmtobias_works_without_mmcv_ops(no_ops_site):
    code = ('import json, sys\n'
            'import mmtobias\n'
            'from mmpretrain.registry import MODELS, TRANSFORMS\n'
            'assert MODELS.get("InsLoc") and TRANSFORMS.get("BackgroundSwap")\n'
            'try:\n    import mmcv.ops\nexcept ImportError:\n    pass\n'
            'else:\n    raise SystemExit("mmcv.ops imported: the test setup is broken")\n'
            ) + REPORT
    assert loaded_modules(run_python(code, site=no_ops_site)) == []


@pytest.mark.slow
@pytest.mark.parametrize('config', ['configs/mocov2_tobias_r50.py', 'configs/insloc_r50-c4.py'],
                         ids=['mocov2_tobias', 'insloc_c4'])
def test_pretraining_trains_without_mmcv_ops(config, no_ops_site, pretrain_images, tmp_path,
                                             work_dir):
    tiny = tiny_pretrain_config(osp.join(REPO, config), str(tmp_path / 'tiny.py'),
                                pretrain_images, str(tmp_path / 'masks.tmask'))
    argv = ['tools/train.py', tiny, '--work-dir', work_dir, '--cfg-options',
            'train_dataloader.num_workers=0']
    loaded = loaded_modules(run_python(train_code(argv), cwd=str(tmp_path), site=no_ops_site))
    assert loaded == []
    assert osp.isfile(osp.join(work_dir, 'epoch_1.pth'))


@pytest.mark.slow
def test_detection_parts_registered_when_mmdet_is_imported_first():
    """An mmdet project (mmdet's tools/train.py imports mmdet before the config's
    ``custom_imports=['mmtobias']``) gets the detection components."""
    pytest.importorskip('mmcv.ops', reason='mmdet needs mmcv with compiled ops')
    code = ('import mmdet.registry\n'
            'from mmengine.config import Config\n'
            'cfg = Config(dict(custom_imports=dict(imports=["mmtobias"], '
            'allow_failed_imports=False)))\n'
            'from mmengine.utils import import_modules_from_strings\n'
            'import_modules_from_strings(**cfg.custom_imports)\n'
            'from mmdet.registry import METRICS, MODELS\n'
            'print(MODELS.get("SharedResLayerExtraNorm").__module__, '
            'METRICS.get("VOCIoUSweepMetric").__module__)\n')
    result = run_python(code)
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'mmtobias.det.res_layer_extra_norm mmtobias.det.voc_iou_sweep_metric' \
        in result.stdout


@pytest.mark.slow  # reads every detection config through mmdet's bases
def test_detection_configs_import_the_detection_parts():
    from mmengine.config import Config
    root = osp.join(REPO, 'configs', 'benchmarks', 'mmdetection')
    configs = [osp.join(d, f) for d, _, files in os.walk(root) for f in files
               if f.endswith('.py') and '_base_' not in d]
    assert len(configs) >= 8
    for path in configs:
        imports = Config.fromfile(path, import_custom_modules=False).custom_imports.imports
        assert 'mmtobias.det' in imports, path
