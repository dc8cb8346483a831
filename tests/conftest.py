# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""Shared fixtures: generated image folders and the shared data beside the repository."""
import os.path as osp

import pytest
import torch

from mmtobias.testing import make_image_folder

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
def shared_data():
    """``../shared/data`` (kangaroo, imagenette-5k, cards); skipped when absent."""
    if not osp.isdir(SHARED_DATA):
        pytest.skip(f'{SHARED_DATA} is not present (it sits beside the repository)')
    return SHARED_DATA
