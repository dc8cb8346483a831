# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""Tobias masks on a GPU: bf16 on CUDA picks the foreground cells that fp32 on the
CPU picks (>= 99 % of them). Skipped without CUDA."""
import importlib.util
import os.path as osp

import numpy as np
import pytest
import torch

from mmtobias.scda import MaskStore, generate_masks, scan_images

pytestmark = pytest.mark.skipif(
    not torch.cuda.is_available(),
    reason='needs a CUDA GPU (torch.cuda.is_available() is False); on a GPU machine: '
    'bash tools/benchmarks/run_gpu_checks.sh')

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def load_benchmark():
    path = osp.join(REPO, 'tools', 'benchmarks', 'gpu_benchmark.py')
    spec = importlib.util.spec_from_file_location('gpu_benchmark', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def object_images(tmp_path_factory):
    """96 synthetic photos (an object on a textured background), 320x240."""
    root = str(tmp_path_factory.mktemp('gpu_masks') / 'images')
    load_benchmark().make_object_images(root, 96, size=(320, 240), seed=1)
    return root


def test_cuda_bf16_masks_agree_with_cpu_fp32(object_images, tmp_path):
    paths = scan_images(object_images)
    cuda = generate_masks(paths, object_images, str(tmp_path / 'cuda.tmask'), device='cuda',
                          precision='bf16', batch_size=32, num_workers=2, progress=False)
    cpu = generate_masks(paths, object_images, str(tmp_path / 'cpu.tmask'), device='cpu',
                         precision='fp32', batch_size=32, num_workers=2, progress=False)
    assert cuda['num_images'] == cpu['num_images'] == 96
    low, ref = MaskStore(cuda['out_file']), MaskStore(cpu['out_file'])
    assert low.meta['precision'] == 'bf16' and ref.meta['precision'] == 'fp32'
    shared = [(low.foreground(k) & ref.foreground(k)).sum() for k in ref.keys()]
    total = sum(ref.foreground(k).sum() for k in ref.keys())
    agreement = sum(shared) / total
    assert agreement >= 0.99, f'{100 * agreement:.2f} % of the fp32 foreground cells'
    # the raw maps are close too (bf16 has 8 mantissa bits)
    a, b = low.all_maps(), ref.all_maps()
    scale = np.abs(b).max(axis=(1, 2), keepdims=True)
    assert np.abs(a - b).max() / scale.min() < 0.05
