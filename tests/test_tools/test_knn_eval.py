# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
import os.path as osp
import sys

import numpy as np
import pytest
import torch
from PIL import Image

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(REPO, 'tools', 'analysis_tools'))

import knn_eval  # noqa: E402

CONFIG = osp.join(REPO, 'configs', 'benchmarks', 'classification', 'knn',
                  'resnet50_knn-k20-t0.07_folder.py')


@pytest.fixture
def folder(tmp_path):
    """Two classes told apart by colour: red-ish and blue-ish noise."""
    rng = np.random.RandomState(0)
    for split, n in (('train', 6), ('val', 4)):
        for cls, channel in (('blue', 2), ('red', 0)):
            for i in range(n):
                img = rng.randint(0, 90, (40, 40, 3)).astype(np.uint8)
                img[..., channel] += 160
                p = tmp_path / split / cls / f'{i}.png'
                p.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(img).save(str(p))
    return str(tmp_path)


def test_knn_eval_separates_colour_classes(folder, tmp_path, capsys):
    torch.manual_seed(0)
    from mmpretrain.registry import MODELS
    net = MODELS.build(dict(type='mmpretrain.ResNet', depth=18,
                            base_channels=8, stem_channels=8))
    ckpt = str(tmp_path / 'ssl.pth')
    torch.save({'state_dict': {f'backbone.{k}': v
                               for k, v in net.state_dict().items()}}, ckpt)
    acc = knn_eval.main([
        CONFIG, '--checkpoint', ckpt, '--cfg-options', f'data_root={folder}',
        'model.depth=18', 'model.base_channels=8', 'model.stem_channels=8',
        'extract_pipeline.1.scale=36', 'extract_pipeline.2.crop_size=32',
        'extract_dataloader.num_workers=0',
        'knn.k=3'
    ])
    assert acc == 100.0
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith(
        'knn_top1=100.00 k=3')
