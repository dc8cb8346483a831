# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""The README's "Using mmtobias from an existing OpenMMLab project" config, verbatim.

The python block of that section inherits mmpretrain's stock MoCo v2 config, imports
mmtobias, adds the swap and the hook and names the mask file once. Read from the README
(so the README cannot drift from what works), shrunk to a tiny CPU run, overridden as a
user would (`--cfg-options mask_file=...`), it trains 2 iterations and the hook writes
the overridden file.
"""
import os.path as osp
import re

import pytest
from mmengine.config import Config

from mmtobias.testing import shrink_config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SECTION = '## Using mmtobias from an existing OpenMMLab project'


def readme_project_config():
    with open(osp.join(ROOT, 'README.md')) as f:
        text = f.read()
    assert SECTION in text, f'README.md lost its section "{SECTION}"'
    section = text.split(SECTION, 1)[1].split('\n## ', 1)[0]
    blocks = re.findall(r'```python\n(.*?)```', section, re.S)
    project = [b for b in blocks if '_base_' in b]
    assert project, f'README.md "{SECTION}" has no config that inherits a stock config'
    return project[0]


def test_readme_project_config_names_the_mask_file_once():
    code = readme_project_config()
    assert "mmpretrain::" in code and code.count('mask_file') == 1


@pytest.mark.slow
def test_readme_project_config_trains_with_one_mask_file_override(tmp_path, image_folder):
    path = tmp_path / 'project_cfg.py'
    path.write_text(readme_project_config())
    cfg = Config.fromfile(str(path))
    mask_file = str(tmp_path / 'moved' / 'masks.tmask')
    cfg.merge_from_dict({'mask_file': mask_file})  # what --cfg-options mask_file=... does
    shrink_config(cfg, data_root=image_folder, work_dir=str(tmp_path / 'work'),
                  save_checkpoint=False)
    # the stock config's ImageNet dataset -> the test's folder of images, same pipeline
    cfg.train_dataloader.dataset = dict(
        type='CustomDataset', data_root=image_folder, data_prefix='', with_label=False,
        pipeline=cfg.train_dataloader.dataset.pipeline)
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=2)
    cfg.param_scheduler = []

    from mmengine.runner import Runner
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert osp.exists(mask_file)
    swaps = [t for t in runner.train_dataloader.dataset.pipeline.transforms[1].pipelines[0]
             .transforms if type(t).__name__ == 'BackgroundSwap']
    assert swaps and swaps[0].mask_file == mask_file
