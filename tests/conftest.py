# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""Shared fixtures: generated image folders, the shared data beside the repository,
work directories and ports.

Tests that train (``runner.train()``, a tool's ``main`` that trains or fine-tunes),
start processes (``mp.spawn``, ``subprocess`` Python) or otherwise take seconds carry
``@pytest.mark.slow``: ``pytest -m "not slow"`` is the quick loop, plain ``pytest``
(CI) runs everything. ``pytest DIR --durations=15`` shows which tests need the mark.
"""
import os.path as osp

import pytest
import torch

from mmtobias.testing import free_port, make_box_folder, make_image_folder

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
SHARED_DATA = osp.join(osp.dirname(REPO_ROOT), 'shared', 'data')

# Tiny models run fastest on one thread, and two threads oversubscribe a busy 2-core CI.
torch.set_num_threads(1)


@pytest.fixture
def image_folder(tmp_path):
    """A class/file tree of 8 random JPEGs."""
    root = tmp_path / 'images'
    make_image_folder(str(root))
    return str(root)


@pytest.fixture(scope='session')
def pretrain_images(tmp_path_factory):
    """4 random 64x56 JPEGs in class folders (2 iterations at batch 2); read only."""
    root = str(tmp_path_factory.mktemp('pretrain_images') / 'images')
    make_image_folder(root, num_images=4, size=(64, 56))
    return root


@pytest.fixture(scope='session')
def box_folder(tmp_path_factory):
    """6 images with VOC XML boxes in the kangaroo layout (images/, annots/); read only."""
    return make_box_folder(str(tmp_path_factory.mktemp('boxes')))


@pytest.fixture
def work_dir(tmp_path):
    """A run's work directory, ``tmp_path / 'work'`` (not created)."""
    return str(tmp_path / 'work')


@pytest.fixture
def master_port():
    """A free port on 127.0.0.1 for a process group (``--master_port``)."""
    return free_port()


@pytest.fixture(scope='session')
def shared_data():
    """``../shared/data`` (kangaroo, imagenette-5k, cards); skipped when absent."""
    if not osp.isdir(SHARED_DATA):
        pytest.skip(f'{SHARED_DATA} is not present (it sits beside the repository)')
    return SHARED_DATA
