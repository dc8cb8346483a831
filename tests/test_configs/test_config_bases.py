# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""The pretraining configs build their views from one base per pipeline
(``configs/_base_/pipelines/``) and set the Tobias mask file in one place: the
top-level ``mask_file``, which the TobiasMaskGenerator hook reads and hands to the
transforms, so ``--cfg-options mask_file=X`` moves it (issue #26).

Static checks only: no Runner is built (the runtime half, the hook writing X and
the transforms reading X, is tested with the hook)."""
import ast
import functools
import glob
import os.path as osp

import pytest
from mmengine.config import Config

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = osp.join(REPO, 'configs')
# the pretraining configs: the short names, configs/tobias/ and configs/insloc/
PRETRAIN = sorted(
    osp.relpath(p, CONFIGS) for pattern in ('*.py', 'tobias/*.py', 'insloc/*.py')
    for p in glob.glob(osp.join(CONFIGS, pattern)))
BASES = sorted(
    osp.relpath(p, CONFIGS)
    for p in glob.glob(osp.join(CONFIGS, '_base_', '**', '*.py'), recursive=True))
# the other config folders (benchmarks, SCDA localization) use no Tobias masks
OTHERS = sorted(
    osp.relpath(p, CONFIGS) for p in glob.glob(osp.join(CONFIGS, '**', '*.py'), recursive=True)
    if osp.relpath(p, CONFIGS) not in PRETRAIN + BASES)
# transforms that read the Tobias mask file (CopyPaste only with saliency='tobias')
MASK_TRANSFORMS = ('BackgroundSwap', 'CopyPaste', 'InsLocComposite')
NEW_MASK_FILE = '/elsewhere/masks.tmask'


@functools.lru_cache(maxsize=None)
def load(rel):
    """The resolved config as plain dicts / lists (parsed once per file)."""
    return Config.fromfile(osp.join(CONFIGS, rel)).to_dict()


def walk(obj, path=''):
    """Every dict nested in ``obj``, with its dotted path."""
    if isinstance(obj, dict):
        yield path, obj
        for k, v in obj.items():
            yield from walk(v, f'{path}.{k}' if path else str(k))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from walk(v, f'{path}.{i}')


def has_mask_generator(cfg):
    return any(h['type'] == 'TobiasMaskGenerator' for h in cfg.get('custom_hooks', []))


def mask_transforms(cfg):
    """The transforms of the training pipeline that cannot run without the mask file
    (InsLocComposite runs without one: plain InsLoc)."""
    pipeline = cfg['train_dataloader']['dataset']['pipeline']
    return [
        d['type'] for _, d in walk(pipeline) if d.get('type') == 'BackgroundSwap' or (
            d.get('type') == 'CopyPaste' and d.get('saliency', 'tobias') == 'tobias')
    ]


def views(cfg):
    """The per-view transform lists of the MultiView / MultiViewWithBoxes step."""
    step = next(t for t in cfg['train_dataloader']['dataset']['pipeline']
                if t['type'] in ('MultiView', 'MultiViewWithBoxes'))
    return step['transforms']


def test_the_tobias_configs_are_found():
    tobias = [rel for rel in PRETRAIN if has_mask_generator(load(rel))]
    for short in ('mocov2_tobias_r50.py', 'mocov2_rm_r50.py', 'mocov2_mixup_r50.py',
                  'mocov2_copypaste_r50.py', 'simclr_tobias_r50.py', 'insloc_tobias_r50-c4.py'):
        assert short in tobias
    assert len(tobias) >= 20


@pytest.mark.parametrize('rel', PRETRAIN)
def test_mask_file_is_set_at_the_top_level_only(rel):
    cfg = load(rel)
    owners = [path for path, d in walk(cfg) if 'mask_file' in d and path]
    assert not owners, (f'{rel}: mask_file set in {owners}; set only the top-level '
                        '`mask_file` (the TobiasMaskGenerator hook hands it on)')
    if has_mask_generator(cfg):
        assert isinstance(cfg.get('mask_file'), str) and cfg['mask_file'], (
            f'{rel}: a config with the TobiasMaskGenerator hook sets `mask_file`')
    else:
        assert 'mask_file' not in cfg


@pytest.mark.parametrize('rel', PRETRAIN)
def test_mask_transforms_come_with_the_mask_generator(rel):
    cfg = load(rel)
    if mask_transforms(cfg):
        assert has_mask_generator(cfg), (
            f'{rel}: {mask_transforms(cfg)} read the mask file that only the '
            'TobiasMaskGenerator hook supplies')


@pytest.mark.parametrize('rel', PRETRAIN)
def test_one_override_moves_the_mask_file(rel):
    if not has_mask_generator(load(rel)):
        pytest.skip('no TobiasMaskGenerator hook')
    cfg = Config.fromfile(osp.join(CONFIGS, rel))
    old = cfg.mask_file
    cfg.merge_from_dict({'mask_file': NEW_MASK_FILE})  # = --cfg-options mask_file=...
    assert cfg.mask_file == NEW_MASK_FILE
    resolved = cfg.to_dict()
    stale = [path for path, d in walk(resolved) for k, v in d.items() if v == old]
    assert not stale, f'{rel}: the old mask file is still read at {stale}'
    hook = next(h for h in resolved['custom_hooks'] if h['type'] == 'TobiasMaskGenerator')
    assert 'mask_file' not in hook  # the hook reads runner.cfg.mask_file


@functools.lru_cache(maxsize=None)
def base_views():
    pipelines = osp.join('_base_', 'pipelines')
    return dict(mocov2=load(osp.join(pipelines, 'mocov2_views.py'))['mocov2_view_pipeline'],
                simclr=load(osp.join(pipelines, 'simclr_views.py'))['simclr_view_pipeline'],
                insloc=load(osp.join(pipelines, 'insloc_views.py'))['insloc_view_pipeline'])


@pytest.mark.parametrize('rel', PRETRAIN)
def test_views_are_the_base_pipelines(rel):
    bases = base_views()
    assert bases['insloc'] == bases['mocov2'][1:]  # InsLoc: MoCo v2 minus the crop
    expected = 'insloc' if 'insloc' in rel else 'simclr' if 'simclr' in rel else 'mocov2'
    for view in views(load(rel)):
        # the query / copy-paste transform of the Tobias configs comes first
        view = [t for t in view if t['type'] not in MASK_TRANSFORMS]
        if view[0]['type'] == 'RandomResizedCrop':
            # the paper's ImageNet-subset configs crop at 112 instead of 224
            view = [dict(view[0], scale=224), *view[1:]]
        assert view == bases[expected], (
            f'{rel}: views differ from configs/_base_/pipelines/{expected}_views.py')


def calls(rel):
    """The ``type`` of every ``dict(type=...)`` and the keywords of every call in a
    config file's code (comments and strings excluded)."""
    tree = ast.parse(open(osp.join(CONFIGS, rel)).read())
    types, keywords = [], []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            for kw in node.keywords:
                keywords.append(kw.arg)
                if kw.arg == 'type' and isinstance(kw.value, ast.Constant):
                    types.append(kw.value.value)
    return types, keywords


@pytest.mark.parametrize('type_, owners', [
    ('ColorJitter', {'_base_/pipelines/mocov2_views.py', '_base_/pipelines/simclr_views.py'}),
    ('RandomGrayscale', {'_base_/pipelines/mocov2_views.py', '_base_/pipelines/simclr_views.py'}),
    ('GaussianBlur', {'_base_/pipelines/mocov2_views.py', '_base_/pipelines/simclr_views.py'}),
    ('SafeLoadImageFromFile', {'_base_/pipelines/loading.py'}),
    ('PackInputs', {'_base_/pipelines/loading.py'}),
    ('TobiasMaskGenerator', {'_base_/tobias_hooks.py'}),
])
def test_each_step_is_written_once(type_, owners):
    writers = {rel for rel in PRETRAIN + BASES if type_ in calls(rel)[0]}
    assert writers == owners, (f'{type_} is written in {sorted(writers - owners)}; '
                               f'reuse the base {sorted(owners)} instead')


@pytest.mark.parametrize('rel', PRETRAIN + BASES)
def test_no_config_passes_mask_file_to_a_transform_or_hook(rel):
    assert 'mask_file' not in calls(rel)[1], (
        f'{rel}: pass no mask_file to a transform or hook; set the top-level '
        '`mask_file` (the TobiasMaskGenerator hook hands it on)')


def test_other_config_folders_use_no_masks():
    words = ('TobiasMaskGenerator', 'mask_file', *MASK_TRANSFORMS)
    users = [rel for rel in OTHERS if any(w in open(osp.join(CONFIGS, rel)).read() for w in words)]
    assert not users, (f'{users} use Tobias masks: add their folder to PRETRAIN in '
                       'this test so the mask-file checks cover them')
