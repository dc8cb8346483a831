# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""Pretraining and detection on a GPU through the user's commands: 10 iterations of
MoCo v2 + Tobias, SimCLR + Tobias, InsLoc-C4 and InsLoc-FPN with ``--amp`` (fp16 with
a loss scaler, ``tools/train.py``), MoCo v2 + Tobias with bf16 autocast
(``AutocastOptimWrapper``) and with ``ChannelsLastHook``, MoCo v2 + Tobias through
``tools/dist_train.sh CONFIG 1`` (NCCL), CUDA against CPU RoIAlign (torchvision's, and
mmcv's when it has CUDA ops) on random boxes, and 10 detection iterations
(``tools/det_train.py``) when mmcv's ops are compiled for CUDA. Full-size ResNet-50
models, 20 synthetic 256x256 images, batch 2. Each test stops at 150 s
(``run_gpu_checks.sh``'s budget). Skipped without CUDA."""
import glob
import json
import math
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch

from mmtobias.testing import free_port, load_script

pytestmark = [
    pytest.mark.skipif(
        not torch.cuda.is_available(),
        reason='needs a CUDA GPU (torch.cuda.is_available() is False); on a GPU machine: '
        'bash .dev_scripts/gpu_lease/run_gpu_checks.sh'),
    pytest.mark.slow,  # every test trains or runs CUDA kernels for seconds
]

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PY = sys.executable
NUM_IMAGES, BATCH = 20, 2  # one epoch = 10 iterations
SMALL_DATA = [
    f'train_dataloader.batch_size={BATCH}', 'train_dataloader.num_workers=2',
    'train_dataloader.persistent_workers=False', 'train_cfg.max_epochs=1',
    'default_hooks.logger.interval=1', 'default_hooks.checkpoint.interval=1',
]
CONFIGS = {
    'mocov2_tobias': 'configs/mocov2_tobias_r50.py',
    'simclr_tobias': 'configs/simclr_tobias_r50.py',
    'insloc_c4': 'configs/insloc_r50-c4.py',
    'insloc_fpn': 'configs/insloc_r50-fpn.py',
}


def load_tool(rel):
    return load_script(osp.join(REPO, rel))


def run(cmd, cwd, env=None, timeout=140):
    full_env = dict(os.environ)
    full_env['PYTHONPATH'] = os.pathsep.join(
        p for p in (REPO, os.environ.get('PYTHONPATH')) if p)
    full_env.update(env or {})
    result = subprocess.run(cmd, cwd=cwd, env=full_env, capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return result


def mmcv_ops_error(need_cuda=False):
    """Why mmcv's compiled ops cannot be used (None when they can)."""
    try:
        from mmcv.ops import RoIAlign, get_compiling_cuda_version
    except ImportError as e:
        return f'mmcv has no compiled ops ({e})'
    if need_cuda:
        if get_compiling_cuda_version() == 'not available':
            return ('mmcv ops are compiled for CPU only; MMTOBIAS_MMCV_OPS=cuda '
                    'bash tools/setup.sh builds them for CUDA')
        try:
            RoIAlign((7, 7), 1 / 16)(torch.rand(1, 4, 8, 8, device='cuda'),
                                     torch.tensor([[0., 0., 0., 64., 64.]], device='cuda'))
        except RuntimeError as e:
            return f'mmcv RoIAlign fails on this GPU ({e})'
    return None


@pytest.fixture(scope='module')
def images(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('gpu_train') / 'images')
    load_tool('tools/benchmarks/gpu_benchmark.py').make_object_images(
        root, NUM_IMAGES, size=(256, 256), seed=2)
    return root


def check_ten_iterations(work_dir):
    ckpt = osp.join(work_dir, 'epoch_1.pth')
    assert osp.isfile(ckpt)
    meta = torch.load(ckpt, map_location='cpu', weights_only=False)['meta']
    assert meta['iter'] == NUM_IMAGES // BATCH
    scalars = glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))
    with open(scalars[0]) as f:
        losses = [json.loads(line)['loss'] for line in f if '"loss"' in line]
    assert len(losses) == NUM_IMAGES // BATCH
    assert all(math.isfinite(v) for v in losses), losses


@pytest.mark.timeout(150)
@pytest.mark.parametrize('name', list(CONFIGS))
def test_config_trains_ten_iterations_with_amp(name, images, tmp_path):
    if name == 'insloc_fpn' and mmcv_ops_error():
        pytest.skip(f'InsLoc-FPN borrows mmdet.FPN, and mmdet imports mmcv.ops: '
                    f'{mmcv_ops_error()}')
    work_dir = str(tmp_path / 'work')
    # cwd: the Tobias configs' relative mask files land in tmp_path/work_dirs/
    result = run([PY, osp.join(REPO, 'tools', 'train.py'), osp.join(REPO, CONFIGS[name]),
                  '--amp', '--work-dir', work_dir, '--cfg-options',
                  f'train_dataloader.dataset.data_root={images}', *SMALL_DATA], cwd=str(tmp_path))
    assert 'AmpOptimWrapper' in result.stdout + result.stderr
    check_ten_iterations(work_dir)


@pytest.mark.timeout(150)
def test_bf16_autocast_trains_ten_iterations(images, tmp_path):
    if not torch.cuda.is_bf16_supported():
        pytest.skip(f'{torch.cuda.get_device_name(0)} has no bf16')
    work_dir = str(tmp_path / 'work')
    result = run([PY, osp.join(REPO, 'tools', 'train.py'),
                  osp.join(REPO, CONFIGS['mocov2_tobias']), '--work-dir', work_dir,
                  '--cfg-options', f'train_dataloader.dataset.data_root={images}',
                  'optim_wrapper.type=AutocastOptimWrapper', 'optim_wrapper.dtype=bfloat16',
                  *SMALL_DATA], cwd=str(tmp_path))
    assert 'AutocastOptimWrapper' in result.stdout + result.stderr
    check_ten_iterations(work_dir)


CHANNELS_LAST_CONFIG = """
_base_ = {base!r}
custom_hooks = [*_base_.custom_hooks, dict(type='ChannelsLastHook')]
"""


@pytest.mark.timeout(150)
def test_channels_last_trains_ten_iterations(images, tmp_path):
    config = tmp_path / 'mocov2_tobias_channels_last.py'
    config.write_text(CHANNELS_LAST_CONFIG.format(
        base=osp.join(REPO, CONFIGS['mocov2_tobias'])))
    work_dir = str(tmp_path / 'work')
    result = run([PY, osp.join(REPO, 'tools', 'train.py'), str(config), '--amp',
                  '--work-dir', work_dir, '--cfg-options',
                  f'train_dataloader.dataset.data_root={images}', *SMALL_DATA],
                 cwd=str(tmp_path))
    assert 'channels-last' in (result.stdout + result.stderr).lower()
    check_ten_iterations(work_dir)


def _random_rois(num, size, generator):
    """``num`` boxes (batch index, x1, y1, x2, y2) inside a ``size`` x ``size`` image,
    some smaller than a feature cell and some reaching past the border."""
    xy = torch.rand(num, 2, generator=generator) * size
    wh = torch.rand(num, 2, generator=generator) * size * 0.6 + 0.5
    batch = torch.randint(0, 2, (num, 1), generator=generator).float()
    return torch.cat([batch, xy, xy + wh], dim=1)


@pytest.mark.timeout(150)
@pytest.mark.parametrize('impl', ['torchvision', 'mmcv'])
def test_roi_align_cuda_matches_cpu(impl):
    generator = torch.Generator().manual_seed(0)
    feats = torch.randn(2, 16, 32, 32, generator=generator)
    rois = _random_rois(500, 512, generator)
    if impl == 'torchvision':
        from torchvision.ops import roi_align

        def align(f, r):
            return roi_align(f, r, (7, 7), 1 / 16, 2, aligned=True)
    else:
        reason = mmcv_ops_error(need_cuda=True)
        if reason:
            pytest.skip(f'mmcv RoIAlign on CUDA: {reason}')
        from mmcv.ops import RoIAlign
        align = RoIAlign((7, 7), 1 / 16, sampling_ratio=2, aligned=True)
    cpu = align(feats, rois)
    cuda = align(feats.cuda(), rois.cuda()).cpu()
    # float32 sums of 4 bilinear samples: rounding differs, the values do not
    torch.testing.assert_close(cuda, cpu, atol=1e-5, rtol=1e-5)


@pytest.mark.timeout(150)
def test_dist_train_one_gpu(images, tmp_path):
    work_dir = str(tmp_path / 'work')
    result = run(['bash', osp.join(REPO, 'tools', 'dist_train.sh'),
                  osp.join(REPO, CONFIGS['mocov2_tobias']), '1', '--amp', '--work-dir',
                  work_dir, '--cfg-options', f'train_dataloader.dataset.data_root={images}',
                  *SMALL_DATA], cwd=str(tmp_path), env=dict(PYTHON=PY, PORT=str(free_port())))
    assert 'Distributed launcher: pytorch' in result.stdout + result.stderr
    check_ten_iterations(work_dir)


@pytest.mark.timeout(150)
def test_detection_ten_iterations(tmp_path):
    reason = mmcv_ops_error(need_cuda=True)
    if reason:
        pytest.skip(f'detection transfer needs mmcv ops for CUDA: {reason}')
    import numpy as np
    from PIL import Image
    src = tmp_path / 'src'
    (src / 'images').mkdir(parents=True)
    (src / 'annots').mkdir()
    rng = np.random.default_rng(0)
    for i in range(8):
        img = np.full((240, 320, 3), 90, np.uint8) + rng.integers(0, 20, (240, 320, 3),
                                                                  dtype=np.uint8)
        img[30:130, 30:130] = (220, 20, 20)
        (src / 'annots' / f'{i}.xml').write_text(
            '<annotation><size><width>320</width><height>240</height></size>'
            '<object><name>square</name><bndbox><xmin>31</xmin><ymin>31</ymin>'
            '<xmax>130</xmax><ymax>130</ymax></bndbox></object></annotation>')
        Image.fromarray(img).save(str(src / 'images' / f'{i}.jpg'))
    voc = str(tmp_path / 'voc')
    load_tool('tools/dataset_converters/pairs_to_voc.py').convert(
        str(src), voc, test_ratio=0.25, seed=0)
    work_dir = str(tmp_path / 'det')
    result = run([
        PY, osp.join(REPO, 'tools', 'det_train.py'),
        osp.join(REPO, 'configs/benchmarks/mmdetection/voc-layout/faster-rcnn_r50_fpn_custom.py'),
        '--pretrained', 'none', '--data-root', voc, '--max-iters', '10', '--short-side', '240',
        '--work-dir', work_dir, '--cfg-options', 'train_dataloader.num_workers=2',
        'train_dataloader.persistent_workers=False', 'test_dataloader.num_workers=2',
        'test_dataloader.persistent_workers=False'], cwd=str(tmp_path))
    assert result.stdout.strip().splitlines()[-1].startswith('AP50=')
    with open(osp.join(work_dir, 'det_results.json')) as f:
        assert json.load(f)['max_iters'] == 10
