# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""create_subset, make_demo_images and visualize_pipeline."""
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
from mmengine.config import Config
from PIL import Image

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(REPO, 'tools'))

import create_subset  # noqa: E402
import make_demo_images  # noqa: E402
import visualize_pipeline  # noqa: E402


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / 'train'
    for c in range(3):
        for i in range(10):
            p = root / f'n0{c}' / f'{i}.JPEG'
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(b'x')  # never decoded by create_subset
    return str(root)


def test_create_subset_is_seeded_label_free_and_idempotent(folder, tmp_path):
    a = create_subset.sample_subset(folder, 12, seed=0)
    assert a == create_subset.sample_subset(folder, 12, seed=0)
    assert a != create_subset.sample_subset(folder, 12, seed=1)
    assert len(set(a)) == 12 and a == sorted(a)
    out = str(tmp_path / 'in12')
    create_subset.main([folder, out, '--num', '12'])
    links = sorted(
        osp.relpath(osp.join(d, f), out).replace(os.sep, '/')
        for d, _, fs in os.walk(out) for f in fs)
    assert links == a
    assert osp.realpath(osp.join(out, a[0])) == osp.realpath(
        osp.join(folder, a[0]))
    create_subset.main([folder, out, '--num', '12'])  # same subset: no-op
    with pytest.raises(FileExistsError, match='--force'):
        create_subset.main([folder, out, '--num', '12', '--seed', '3'])
    lst = str(tmp_path / 'in5.txt')
    create_subset.main([folder, lst, '--num', '5', '--format', 'list'])
    assert open(lst).read().split() == create_subset.sample_subset(
        folder, 5, seed=0)
    with pytest.raises(ValueError, match='holds 30 images'):
        create_subset.sample_subset(folder, 31)


def test_demo_images_are_generated_deterministically(tmp_path):
    a = make_demo_images.make_demo_images(str(tmp_path / 'a'), num=8)
    b = make_demo_images.make_demo_images(str(tmp_path / 'b'), num=8)
    assert len(a) == 8
    for pa, pb in zip(a, b):
        assert np.array_equal(np.asarray(Image.open(pa)),
                              np.asarray(Image.open(pb)))
    shipped = [p for p in os.listdir(osp.join(REPO, 'demo', 'images'))]
    assert sorted(shipped) == ['box', 'disc', 'ring', 'star']


def test_visualize_pipeline_draws_a_grid(tmp_path):
    images = str(tmp_path / 'images')
    make_demo_images.make_demo_images(images, num=6)
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'mocov2_tobias_r50.py'))
    mask_file = str(tmp_path / 'masks.tmask')
    cfg.mask_file = mask_file
    hook = next(h for h in cfg.custom_hooks if h.type == 'TobiasMaskGenerator')
    hook.update(mask_file=mask_file, arch='resnet18', num_workers=0, precision='fp32')
    cfg.train_dataloader.dataset.pipeline[1]['transforms'][0][0][
        'mask_file'] = mask_file
    cfg.train_dataloader.dataset.data_root = images
    out = visualize_pipeline.visualize(cfg, str(tmp_path / 'grid.png'),
                                       num=3, tile=64)
    grid = np.asarray(Image.open(out))
    assert grid.shape[0] == 18 + 3 * (64 + 18)
    assert grid.shape[1] == 5 * (64 + 6) + 6
    assert osp.isfile(mask_file)  # made by the config's hook


@pytest.mark.slow
def test_pipeline_overhead_cli_prints_ratio(tmp_path):
    images = str(tmp_path / 'images')
    make_demo_images.make_demo_images(images, num=4)
    from mmtobias.scda import write_mask_store
    keys = sorted(osp.relpath(osp.join(d, f), images)
                  for d, _, fs in os.walk(images) for f in fs)
    mask_file = str(tmp_path / 'm.tmask')
    write_mask_store(mask_file, keys, np.random.rand(4, 4, 4),
                     np.ones(4, bool), dict(data_root=images))
    out = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools', 'benchmarks',
                                  'pipeline_overhead.py'), images, '--num',
         '4', '--mask-file', mask_file, '--input-size', '32'],
        capture_output=True, text=True, check=True).stdout
    assert float(out.strip().splitlines()[-1].split('ratio=')[1]) > 0


@pytest.mark.slow
def test_demo_runs_end_to_end(tmp_path):
    """The README's quick start: masks, pictures and a short pretraining on CPU."""

    work = str(tmp_path / 'demo')
    result = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools', 'demo.py'), '--work-dir', work],
        cwd=REPO, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert osp.isfile(osp.join(work, 'masks.tmask'))
    assert osp.isfile(osp.join(work, 'pipeline.png'))
    assert any(name.endswith('.pth') for _, _, files in os.walk(work) for name in files)
