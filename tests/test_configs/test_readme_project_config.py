# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""The README's "Using mmtobias from an existing OpenMMLab project" config, as users
write it on top of mmpretrain's stock config files.

The python block of that section inherits mmpretrain's stock BYOL config verbatim,
imports mmtobias, adds the swap and the hook and names the mask file once. Read from
the README (so the README cannot drift from what works), it trains 2 iterations on an
ImageNet-layout folder (``train/CLASS/*.JPEG`` with ``meta/train.txt``, the stock
dataset's own format), where the only data override is the one a user types,
``train_dataloader.dataset.data_root``. The same block on the stock MoCo v2, DenseCL
and MoCo v3 configs is the README's sentence after it applied: the ``_base_`` line
changed, and for a stock config with one ``view_pipeline`` both views read it
(issue #27). MoCo v3's ``AmpOptimWrapper`` runs on a CPU through mmtobias's autocast
fallback (``mmtobias/utils/compat/amp_without_cuda.py``).
"""
import os
import os.path as osp
import re

import pytest
from mmengine.config import Config

from mmtobias.testing import make_image_folder, shrink_config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SECTION = '## Using mmtobias from an existing OpenMMLab project'
README_BASE = "_base_ = 'mmpretrain::byol/byol_resnet50_16xb256-coslr-200e_in1k.py'"

# stock config -> whether its two views are one `view_pipeline` (else view_pipeline1/2)
STOCK = {
    'byol/byol_resnet50_16xb256-coslr-200e_in1k.py': False,
    'mocov2/mocov2_resnet50_8xb32-coslr-200e_in1k.py': True,
    'densecl/densecl_resnet50_8xb32-coslr-200e_in1k.py': True,
    'mocov3/mocov3_resnet50_8xb512-amp-coslr-300e_in1k.py': False,
}


def readme_project_config():
    with open(osp.join(ROOT, 'README.md')) as f:
        text = f.read()
    assert SECTION in text, f'README.md lost its section "{SECTION}"'
    section = text.split(SECTION, 1)[1].split('\n## ', 1)[0]
    blocks = re.findall(r'```python\n(.*?)```', section, re.S)
    project = [b for b in blocks if '_base_' in b]
    assert project, f'README.md "{SECTION}" has no config that inherits a stock config'
    return project[0]


def mixed_config(stock):
    """The README block on ``mmpretrain::<stock>``, as the README says to adapt it."""
    code = readme_project_config()
    assert README_BASE in code, f'the README block no longer starts with {README_BASE}'
    code = code.replace(README_BASE, f"_base_ = 'mmpretrain::{stock}'")
    if STOCK[stock]:
        code = re.sub(r'_base_\.view_pipeline[12]', '_base_.view_pipeline', code)
    return code


def make_imagenet_layout(root, num_images=8):
    """``root/train/CLASS/*.jpg`` and ``root/meta/train.txt`` (``path label`` lines)."""
    paths = make_image_folder(osp.join(root, 'train'), num_images=num_images)
    os.makedirs(osp.join(root, 'meta'))
    classes = sorted({osp.basename(osp.dirname(p)) for p in paths})
    with open(osp.join(root, 'meta', 'train.txt'), 'w') as f:
        for p in paths:
            rel = osp.relpath(p, osp.join(root, 'train'))
            f.write(f'{rel} {classes.index(rel.split(os.sep)[0])}\n')
    return root


def test_readme_project_config_names_the_mask_file_once():
    code = readme_project_config()
    assert "mmpretrain::" in code and code.count('mask_file') == 1


@pytest.mark.parametrize('stock', list(STOCK))
def test_mixed_config_keeps_the_stock_views_with_the_swap_on_view_0(stock):
    cfg = Config.fromstring(mixed_config(stock), '.py')
    step = cfg.train_dataloader.dataset.pipeline[1]
    first, second = step.transforms
    assert first[0]['type'] == 'BackgroundSwap' and len(first) == len(second) + 1
    assert all(t['type'] != 'BackgroundSwap' for t in second)
    assert cfg.train_dataloader.dataset.type == 'ImageNet'  # the stock dataset, kept


@pytest.mark.slow
@pytest.mark.parametrize('stock', list(STOCK))
def test_mixed_stock_config_trains_with_one_mask_file_override(stock, tmp_path):
    path = tmp_path / 'project_cfg.py'
    path.write_text(mixed_config(stock))
    cfg = Config.fromfile(str(path))
    mask_file = str(tmp_path / 'moved' / 'masks.tmask')
    data_root = make_imagenet_layout(str(tmp_path / 'imagenet'))
    # what --cfg-options mask_file=... train_dataloader.dataset.data_root=... do
    cfg.merge_from_dict({'mask_file': mask_file, 'train_dataloader.dataset.data_root': data_root})
    shrink_config(cfg, work_dir=str(tmp_path / 'work'), save_checkpoint=False)
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=2)
    cfg.param_scheduler = []

    from mmengine.runner import Runner
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 2
    assert osp.exists(mask_file)
    dataset = runner.train_dataloader.dataset
    assert type(dataset).__name__ == 'ImageNet' and len(dataset) == 8
    swaps = [t for t in dataset.pipeline.transforms[1].pipelines[0].transforms
             if type(t).__name__ == 'BackgroundSwap']
    assert swaps and swaps[0].mask_file == mask_file
