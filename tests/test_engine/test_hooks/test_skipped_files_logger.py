# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""Pretraining over a folder with broken files finishes, names each file and
logs how many it skipped (issue 13), through the real Runner and
``tools/train.py``, with DataLoader workers and with 2 DDP processes."""
import glob
import json
import os
import os.path as osp
import re
import subprocess
import sys
from unittest import mock

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.registry import DefaultScope
from mmengine.runner import Runner
from PIL import Image

import mmtobias  # noqa: F401
from mmpretrain.registry import DATASETS, HOOKS
from mmtobias.datasets.transforms import SafeLoadImageFromFile
from mmtobias.datasets.transforms.unreadable_files import clear_unreadable
from mmtobias.testing import shrink_config

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))
CONFIG = osp.join(REPO, 'configs', 'mocov2_tobias_r50.py')

# Until the pretraining configs load with the skipping step, the test puts it
# (and the count's carrier and hook) into the config. Once they do, set this
# to True: the test then trains the config as it is, and checks it.
CONFIG_SKIPS_UNREADABLE = True
LOAD_STEP = dict(type='SafeLoadImageFromFile', decoder='cv2',
                 on_error='skip', truncated='skip')
PACK_KEY = 'skipped_files'
HOOK = dict(type='SkippedFilesLogger')

# Sorted, the broken files are samples 1, 3 and 5: with shuffle=False and 2
# ranks, rank 1 draws all of them and rank 0 none.
BROKEN = ('a1_empty.jpg', 'a3_text.jpg', 'a5_truncated.jpg')
ODD = ('b_16bit.png', 'b_cmyk.jpg', 'b_gray.jpg', 'b_rgba.png', 'b_tiny.jpg')
NUM_IMAGES = 16


def write_folder(root):
    """8 plain JPEGs, 5 odd but fine images and the 3 broken kinds."""
    os.makedirs(root)
    rng = np.random.default_rng(0)

    def rgb(h=40, w=48):
        return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)

    for name in ('a0_good.jpg', 'a2_good.jpg', 'a4_good.jpg',
                 *[f'c_good{i}.jpg' for i in range(5)]):
        Image.fromarray(rgb()).save(osp.join(root, name))
    Image.fromarray(rgb()).save(osp.join(root, 'whole.jpg'))
    data = open(osp.join(root, 'whole.jpg'), 'rb').read()
    os.remove(osp.join(root, 'whole.jpg'))
    files = {
        'a1_empty.jpg': b'',
        'a3_text.jpg': b'a text file named .jpg\n',
        'a5_truncated.jpg': data[:len(data) // 2],
    }
    for name, content in files.items():
        with open(osp.join(root, name), 'wb') as f:
            f.write(content)
    cv2.imwrite(osp.join(root, 'b_16bit.png'),
                rgb().astype(np.uint16) * 257)
    Image.fromarray(rgb()).convert('CMYK').save(osp.join(root, 'b_cmyk.jpg'))
    Image.fromarray(rgb()[..., 0]).save(osp.join(root, 'b_gray.jpg'))
    Image.fromarray(np.dstack([rgb(), rgb()[..., :1]]),
                    'RGBA').save(osp.join(root, 'b_rgba.png'))
    Image.fromarray(rgb(3, 3)).save(osp.join(root, 'b_tiny.jpg'))
    assert len(os.listdir(root)) == NUM_IMAGES


def tiny_config(tmp_path, num_workers=0, persistent_workers=False,
                shuffle=True):
    """The Tobias config at CPU size: ResNet-18 / 8, 32 px, 2 epochs."""
    data_root = str(tmp_path / 'images')
    write_folder(data_root)
    cfg = Config.fromfile(CONFIG)
    ds = cfg.train_dataloader.dataset
    if not CONFIG_SKIPS_UNREADABLE:
        ds.pipeline[0] = dict(LOAD_STEP)
        pack = ds.pipeline[-1]
        pack['algorithm_keys'] = [*pack.get('algorithm_keys', []), PACK_KEY]
        cfg.custom_hooks = [*cfg.get('custom_hooks', []), dict(HOOK)]
    assert ds.pipeline[0] == LOAD_STEP
    assert PACK_KEY in ds.pipeline[-1]['algorithm_keys']
    assert HOOK in cfg.custom_hooks
    shrink_config(cfg, data_root=data_root, mask_file=str(tmp_path / 'masks.tmask'),
                  width=8, num_workers=num_workers, max_epochs=2, save_checkpoint=False,
                  work_dir=str(tmp_path / 'work'))
    cfg.train_dataloader.update(persistent_workers=persistent_workers,
                                sampler=dict(type='DefaultSampler', shuffle=shuffle))
    return cfg, data_root


def read_results(work_dir):
    """The run's log text and its ``skipped_files`` scalars by epoch."""
    vis_dir, = glob.glob(osp.join(work_dir, '*', 'vis_data'))
    run_dir = osp.dirname(vis_dir)
    log_file = osp.join(run_dir, osp.basename(run_dir) + '.log')  # rank 0
    scalars_file = osp.join(run_dir, 'vis_data', 'scalars.json')
    with open(scalars_file) as f:
        rows = [json.loads(line) for line in f]
    scalars = {r['epoch']: r[PACK_KEY] for r in rows if PACK_KEY in r}
    return open(log_file).read(), scalars


def logged_counts(log):
    return {int(e): int(n) for e, n in re.findall(
        r'Epoch (\d+): skipped (\d+) unreadable image file', log)}


def summary_names(log, data_root):
    """Epoch -> the files its summary names as first skipped."""
    found = {}
    for epoch, names in re.findall(
            r'Epoch (\d+): skipped \d+ unreadable image file\(s\); first '
            r'skipped now: ([^\n]*)\.\n', log):
        found[int(epoch)] = [osp.relpath(n, data_root)
                             for n in names.split(', ')]
    return found


def skip_warnings(log, data_root, name):
    return log.count(f'SafeLoadImageFromFile: skipping '
                     f'{osp.join(data_root, name)}:')


def check_run(log, scalars, data_root, max_warnings_per_file):
    counts = logged_counts(log)
    assert scalars == counts and set(counts) == {1, 2}
    # each epoch draws every broken file at least once, refetches may add
    assert all(n >= len(BROKEN) for n in counts.values()), counts
    for name, reason in zip(BROKEN, ('empty file', 'not an image',
                                     'truncated')):
        named = skip_warnings(log, data_root, name)
        assert 1 <= named <= max_warnings_per_file, (name, named)
        assert re.search(re.escape(name) + r': [^\n]*' + reason, log), name
    for name in ODD:  # unusual but fine: loaded, never skipped
        assert skip_warnings(log, data_root, name) == 0, name
    # the epoch summary names the files once, when first skipped
    assert summary_names(log, data_root) == {1: list(BROKEN)}


@pytest.fixture(autouse=True)
def fresh_process():
    """A new process's state (no file recorded unreadable), minus OpenMP
    busy-waiting on a shared CPU."""
    clear_unreadable()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
    clear_unreadable()


@pytest.fixture
def fast_runner(monkeypatch):
    """The in-process Runner without the yapf formatting of its config dump
    (unrelated to the test, and slow)."""
    monkeypatch.setattr(Config, 'pretty_text', property(lambda cfg: cfg.text))


@pytest.mark.slow
def test_two_epochs_without_workers_count_every_skip(tmp_path, monkeypatch, fast_runner):
    cfg, data_root = tiny_config(tmp_path, num_workers=0)
    nones = []
    transform = SafeLoadImageFromFile.transform

    def counting(self, results):
        out = transform(self, results)
        nones.append(out is None)
        return out

    monkeypatch.setattr(SafeLoadImageFromFile, 'transform', counting)
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.epoch == 2
    log, scalars = read_results(cfg.work_dir)
    check_run(log, scalars, data_root, max_warnings_per_file=1)
    # the logged count is every None the load step returned
    assert sum(logged_counts(log).values()) == sum(nones)


@pytest.mark.slow
def test_workers_forked_each_epoch_do_not_name_files_again(tmp_path,
                                                           fast_runner):
    cfg, data_root = tiny_config(tmp_path, num_workers=2)
    Runner.from_cfg(cfg).train()
    log, scalars = read_results(cfg.work_dir)
    check_run(log, scalars, data_root, max_warnings_per_file=2)
    # epoch 2's workers inherit the files the hook recorded in epoch 1
    second_epoch = log[log.index('Epoch 1: skipped'):]
    assert 'SafeLoadImageFromFile: skipping' not in second_epoch


@pytest.mark.slow
def test_tools_train_with_persistent_workers(tmp_path):
    cfg, data_root = tiny_config(tmp_path, num_workers=2,
                                 persistent_workers=True)
    config = str(tmp_path / 'config.py')
    cfg.dump(config)
    result = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools', 'train.py'), config],
        cwd=REPO, env=dict(os.environ, OMP_NUM_THREADS='1'),
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    log, scalars = read_results(cfg.work_dir)
    check_run(log, scalars, data_root, max_warnings_per_file=2)


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.is_available(),
                    reason='runs the CPU (gloo) processes')
def test_two_ranks_sum_their_counts(tmp_path, master_port):
    cfg, data_root = tiny_config(tmp_path, shuffle=False)
    config = str(tmp_path / 'config.py')
    cfg.dump(config)
    cmd = [
        sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node',
        '2', '--master_port', str(master_port), '-m', 'mmtobias.testing',
        osp.join(REPO, 'tools', 'train.py'), config, '--launcher', 'pytorch'
    ]
    result = subprocess.run(
        cmd, cwd=REPO, capture_output=True, text=True, timeout=600,
        env=dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS='1'))
    out = result.stdout + result.stderr
    assert 'NCCLRuleError' not in out, out[-4000:]
    assert result.returncode == 0, out[-4000:]
    log, scalars = read_results(cfg.work_dir)
    # rank 0 draws no broken file (it skips nothing itself) and logs the sum
    counts = logged_counts(log)
    assert scalars == counts and set(counts) == {1, 2}
    assert all(n >= len(BROKEN) for n in counts.values()), counts
    assert 'SafeLoadImageFromFile: skipping' not in log  # rank 0's log
    # rank 1's names reach rank 0's log
    assert summary_names(log, data_root) == {1: list(BROKEN)}


def build_dataset(tmp_path, pipeline):
    root = tmp_path / 'images'
    root.mkdir()
    Image.new('RGB', (8, 8)).save(str(root / 'x.jpg'))
    return DATASETS.build(dict(type='CustomDataset', data_root=str(root),
                               with_label=False, pipeline=pipeline))


def test_a_pipeline_that_drops_the_count_is_an_error(tmp_path):
    hook = HOOKS.build(dict(type='SkippedFilesLogger'))
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        dataset = build_dataset(tmp_path, [LOAD_STEP, dict(type='PackInputs')])
    with pytest.raises(ValueError, match=r"algorithm_keys=\[\.\.\., "
                       r"'skipped_files'\]"):
        hook._check_pipeline(dataset)


def test_a_pipeline_without_skipping_warns(tmp_path):
    hook = HOOKS.build(dict(type='SkippedFilesLogger'))
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        dataset = build_dataset(tmp_path, [dict(type='LoadImageFromFile'),
                                           dict(type='PackInputs')])
    with mock.patch.object(MMLogger.get_current_instance(), 'log') as log:
        hook._check_pipeline(dataset)
    assert 'nothing to count' in log.call_args[0][1]


def test_max_names_is_checked():
    with pytest.raises(ValueError, match='max_names'):
        HOOKS.build(dict(type='SkippedFilesLogger', max_names=-1))


def test_epoch_summary_lists_at_most_max_names():
    from types import SimpleNamespace

    from mmpretrain.structures import DataSample
    hook = HOOKS.build(dict(type='SkippedFilesLogger', max_names=2))
    runner = SimpleNamespace(logger=MMLogger.get_current_instance(), epoch=0,
                             iter=5, visualizer=mock.Mock())
    samples = [DataSample(skipped_files=['/d/c.jpg', '/d/a.jpg']),
               DataSample(skipped_files=[]), DataSample(),
               DataSample(skipped_files=['/d/b.jpg', '/d/a.jpg'])]
    hook.after_train_iter(runner, 0, dict(data_samples=samples))
    with mock.patch.object(runner.logger, 'log') as log:
        hook.after_train_epoch(runner)
    assert log.call_args[0][1] == ('Epoch 1: skipped 4 unreadable image '
                                   'file(s); first skipped now: /d/a.jpg, '
                                   '/d/b.jpg, 1 more.')
    runner.visualizer.add_scalars.assert_called_once_with(
        {'skipped_files': 4, 'epoch': 1}, step=5)
    runner.epoch = 1
    hook.after_train_iter(runner, 0, dict(data_samples=samples[:1]))
    with mock.patch.object(runner.logger, 'log') as log:
        hook.after_train_epoch(runner)
    assert log.call_args[0][1] == ('Epoch 2: skipped 2 unreadable image '
                                   'file(s), all named in earlier epochs.')
