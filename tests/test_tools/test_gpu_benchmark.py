# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""tools/benchmarks/gpu_benchmark.py end to end in --smoke mode on the CPU: every
measurement runs and lands in the JSON, with the device named and the goals stated."""
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
from PIL import Image

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SCRIPT = osp.join(REPO, 'tools', 'benchmarks', 'gpu_benchmark.py')


def test_smoke_run_on_cpu_writes_every_measurement(tmp_path):
    out = str(tmp_path / 'bench.json')
    env = dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS='1')
    result = subprocess.run(
        [sys.executable, SCRIPT, '--smoke', '--device', 'cpu', '--work-dir',
         str(tmp_path / 'work'), '--out', out], cwd=str(tmp_path), env=env,
        capture_output=True, text=True, timeout=900)
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
    summary = result.stdout[result.stdout.index('summary on CPU'):]
    assert 'goal >= 2200 img/s' in summary and 'goal <= 1.02x' in summary
    assert osp.isfile(str(tmp_path / 'work' / 'tobias_masks.tmask'))


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
