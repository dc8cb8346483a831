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
# the two-view methods of mmpretrain with a folder of configs here (issue #27): each
# keeps its stock config's views (below), so its folder -> that stock config
STOCK = {
    'byol': 'byol/byol_resnet50_16xb256-coslr-200e_in1k.py',
    'simsiam': 'simsiam/simsiam_resnet50_8xb32-coslr-200e_in1k.py',
    'densecl': 'densecl/densecl_resnet50_8xb32-coslr-200e_in1k.py',
    'barlowtwins': 'barlowtwins/barlowtwins_resnet50_8xb256-coslr-300e_in1k.py',
    'mocov3': 'mocov3/mocov3_resnet50_8xb512-amp-coslr-300e_in1k.py',
    'swav': 'swav/swav_resnet50_8xb32-mcrop-coslr-200e_in1k-224px-96px.py',
}
# the pretraining configs: the short names, configs/tobias/, configs/insloc/ and the
# folders of the methods above
PRETRAIN = sorted(
    osp.relpath(p, CONFIGS)
    for pattern in ('*.py', 'tobias/*.py', 'insloc/*.py', *(f'{m}/*.py' for m in STOCK))
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


def per_view(step):
    """A MultiView step's transform list for each view, in order (``num_views`` an int:
    the one list repeated; a list: ``transforms[i]`` repeated ``num_views[i]`` times),
    without the mask transforms (the query / copy-paste step of a Tobias config)."""
    counts = step['num_views']
    groups = step['transforms']
    if isinstance(counts, int):
        counts, groups = [counts], groups[:1]
    return [[unscoped(t) for t in group if t['type'] not in MASK_TRANSFORMS]
            for n, group in zip(counts, groups) for _ in range(n)]


def unscoped(obj):
    """``obj`` without the ``_scope_`` keys mmengine adds to what a package base
    (``mmpretrain::...``) defines."""
    if isinstance(obj, dict):
        return {k: unscoped(v) for k, v in obj.items() if k != '_scope_'}
    if isinstance(obj, (list, tuple)):
        return [unscoped(v) for v in obj]
    return obj


def stock_step(method):
    """The MultiView step of mmpretrain's stock config of ``method``."""
    import mmpretrain
    path = osp.join(osp.dirname(mmpretrain.__file__), '.mim', 'configs', STOCK[method])
    pipeline = Config.fromfile(path).train_dataloader.dataset.pipeline
    return next(t for t in pipeline if t['type'] == 'MultiView')


@pytest.mark.parametrize('rel', [r for r in PRETRAIN if r.split('/')[0] in STOCK])
def test_two_view_method_configs_keep_the_stock_views(rel):
    """Swap and copy-paste come before the stock views; the views themselves, their
    number and order are mmpretrain's (SwAV's [swapped, global, 6 local] included)."""
    method = rel.split('/')[0]
    step = next(t for t in load(rel)['train_dataloader']['dataset']['pipeline']
                if t['type'] == 'MultiView')
    assert per_view(step) == per_view(stock_step(method)), (
        f'{rel}: views differ from mmpretrain::{STOCK[method]}')
    # the swap goes on view 0 only; copy-paste on every view that has it
    swapped = [i for i, group in enumerate(views_expanded(step))
               if any(t['type'] == 'BackgroundSwap' for t in group)]
    assert swapped in ([], [0]), (rel, swapped)


def views_expanded(step):
    """Like :func:`per_view`, keeping the mask transforms."""
    counts, groups = step['num_views'], step['transforms']
    if isinstance(counts, int):
        counts, groups = [counts], groups[:1]
    return [group for n, group in zip(counts, groups) for _ in range(n)]


@pytest.mark.parametrize('rel', [r for r in PRETRAIN if r.split('/')[0] not in STOCK])
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
    ('CopyPaste', {'_base_/copy_paste.py'}),
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
