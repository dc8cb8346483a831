# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""tools/benchmarks/gpu_benchmark.py end to end in --smoke mode on the CPU: every
measurement runs and lands in the JSON, with the device named and the goals stated;
the decoding-path benchmark it calls (mask_decode_benchmark.py) names what it skips."""
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SCRIPT = osp.join(REPO, 'tools', 'benchmarks', 'gpu_benchmark.py')
DECODE_SCRIPT = osp.join(REPO, 'tools', 'benchmarks', 'mask_decode_benchmark.py')


def _photos(root):
    """A few photo-like files, one per decoding route (JPEG, progressive, PNG, CMYK)."""
    os.makedirs(root, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(4):
        arr = np.asarray(Image.fromarray(rng.integers(0, 256, (3, 4, 3), dtype=np.uint8))
                         .resize((160, 120), Image.BICUBIC))
        img = Image.fromarray(arr)
        img.save(osp.join(root, f'photo_{i}.jpg'), quality=90, progressive=i == 1)
    img.save(osp.join(root, 'photo.png'))
    img.convert('CMYK').save(osp.join(root, 'cmyk.jpg'))
    return root


@pytest.mark.slow
def test_smoke_run_on_cpu_writes_every_measurement(tmp_path):
    out = str(tmp_path / 'bench.json')
    env = dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS='1')
    result = subprocess.run(
        [sys.executable, SCRIPT, '--smoke', '--device', 'cpu', '--work-dir',
         str(tmp_path / 'work'), '--out', out, '--photos', _photos(str(tmp_path / 'photos'))],
        cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    with open(out) as f:
        report = json.load(f)
    assert report['device'].startswith('CPU') and report['smoke'] is True
    assert report['goals']['mask_images_per_second'] == 2200
    assert report['goals']['tobias_step_ratio'] == 1.02
    masks = report['masks']
    assert masks['num_images'] == 12 and masks['baseline']['num_images'] == 4
    (gen, ) = masks['generator']
    assert gen['workers'] == 0 and gen['images_per_second'] > 0
    assert gen['ratio_to_released'] > 0
    assert 0.5 <= gen['foreground_agreement_with_released'] <= 1
    steps = report['steps']
    assert set(steps['mean_seconds']) == {'mocov2', 'tobias', 'insloc_c4'}
    assert all(r[0]['iters'] == 2 for r in steps['runs'].values())
    assert steps['tobias_ratio'] > 0 and steps['insloc_c4_ratio'] > 0
    decode = report['decode']
    assert decode['machine']['gpu'] is None and decode['machine']['cpu']
    assert decode['num_images'] == 12 and set(decode['paths']) == {'pil', 'draft'}
    for row in decode['paths'].values():
        assert row['decode_only'] > 0 and row['model_only'] > 0 and row['end_to_end'] > 0
        assert row['imagenet_minutes'] > 0 and row['workers'] == 0
        assert 0.5 <= row['fg_cells_kept_vs_pil'] <= 1
    assert decode['paths']['pil']['fg_cells_kept_vs_pil'] == 1
    assert decode['skipped'] == {'nvjpeg': 'needs CUDA (device cpu)'}
    summary = result.stdout[result.stdout.index('summary on CPU'):]
    assert 'goal >= 2200 img/s' in summary and 'goal <= 1.02x' in summary
    assert 'masks, decode draft:' in summary
    assert 'masks, decode nvjpeg: skipped (needs CUDA (device cpu))' in summary
    assert 'floor >= 2200 img/s: NOT met, aim >= 7000 img/s: NOT met' in summary
    assert report['goals']['decode_floor_met'] is False
    assert osp.isfile(str(tmp_path / 'work' / 'tobias_masks.tmask'))


@pytest.mark.skipif(not osp.isdir(osp.join(REPO, '.git')), reason='needs the git repository')
@pytest.mark.slow
def test_decode_benchmark_times_the_committed_pil_path_too(tmp_path):
    env = dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS='1')
    result = subprocess.run(
        [sys.executable, DECODE_SCRIPT, '--smoke', '--device', 'cpu', '--images',
         _photos(str(tmp_path / 'photos')), '--paths', 'pil', 'nvjpeg', '--ref', 'HEAD',
         '--work-dir', str(tmp_path / 'work')], cwd=str(tmp_path), env=env,
        capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    table = result.stdout[result.stdout.index('mask decoding on GPU: none; CPU: '):]
    rows = {line.split()[0]: line for line in table.splitlines()[2:] if line.strip()}
    # 'pil' makes the maps the committed code makes
    assert rows['pil@HEAD'].endswith('100.00 %') and rows['pil'].endswith('100.00 %')
    assert 'nvjpeg       skipped: needs CUDA (device cpu)' in table
    # one line per path with the words run_gpu_checks.sh picks out
    line = rows['pil:']
    assert 'images/s end to end' in line and '1.28 M images in' in line
    assert line.endswith('foreground cells agree with pil: 100.00 %')


def test_synthetic_images_look_like_photos(tmp_path):
    sys.path.insert(0, osp.dirname(SCRIPT))
    try:
        import gpu_benchmark
    finally:
        sys.path.pop(0)
    paths = gpu_benchmark.make_object_images(str(tmp_path), 4, size=(200, 150), seed=0)
    again = gpu_benchmark.make_object_images(str(tmp_path / 'again'), 4, size=(200, 150),
                                             seed=0)
    assert len(paths) == 4 and paths[0].endswith('c00/img_000000.jpg')
    first = np.asarray(Image.open(paths[0]))
    assert first.shape == (150, 200, 3)
    np.testing.assert_array_equal(first, np.asarray(Image.open(again[0])))  # seeded
    assert first.std() > 20  # an object on a background, not a flat image
