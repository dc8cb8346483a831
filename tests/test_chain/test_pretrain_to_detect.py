# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""The product as one chain: every pretraining config -> converter -> mmdet.

Each pretraining config the README offers trains for 2 iterations through
``tools/train.py`` (ResNet-18 and small images, ``num_workers=0`` from the command
line as a user debugging a pipeline would set it); its checkpoint is fine-tuned for 2
iterations by ``tools/det_train.py`` in every detector layout it should fit, on a
VOC-layout set with its own class names. The fixtures are real pretraining runs: no
state dict is ever made from the detector itself.

The checks below are also the table "From pretraining to detection" of
docs/detection_transfer.md (``transfer_table()``, asserted to be there).
"""
import json
import os.path as osp

import pytest
import torch

from mmtobias.testing import DET_R18_OPTIONS, DET_SMALL_OPTIONS, load_script, tiny_pretrain_config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DET_CFG = osp.join(ROOT, 'configs', 'benchmarks', 'mmdetection', 'voc-layout')


train = load_script(osp.join(ROOT, 'tools', 'train.py'))
test_tool = load_script(osp.join(ROOT, 'tools', 'test.py'))
det_train = load_script(osp.join(ROOT, 'tools', 'det_train.py'))
pairs_to_voc = load_script(osp.join(ROOT, 'tools', 'dataset_converters', 'pairs_to_voc.py'))

# method -> (pretraining config, detector layouts it transfers to)
METHODS = {
    'MoCo v2': ('mocov2_r50.py', ('c4', 'fpn')),
    'MoCo v2 + Tobias': ('mocov2_tobias_r50.py', ('c4', 'fpn')),
    'random merge': ('mocov2_rm_r50.py', ('c4', 'fpn')),
    'Mixup': ('mocov2_mixup_r50.py', ('c4', 'fpn')),
    'copy-paste': ('mocov2_copypaste_r50.py', ('c4', 'fpn')),
    'SimCLR + Tobias': ('simclr_tobias_r50.py', ('c4', 'fpn')),
    'InsLoc-C4': ('insloc_r50-c4.py', ('c4', )),
    'Tobias-guided InsLoc-C4': ('insloc_tobias_r50-c4.py', ('c4', )),
    'InsLoc-FPN': ('insloc_r50-fpn.py', ('fpn', )),
}
# mmpretrain's other two-view methods (issue #27): the baseline twin, + Tobias, + copy-paste
for _folder, _name in (('byol', 'BYOL'), ('simsiam', 'SimSiam'), ('densecl', 'DenseCL'),
                       ('barlowtwins', 'Barlow Twins'), ('mocov3', 'MoCo v3'),
                       ('swav', 'SwAV')):
    METHODS[_name] = (f'{_folder}/{_folder}_r50.py', ('c4', 'fpn'))
    METHODS[f'{_name} + Tobias'] = (f'{_folder}/{_folder}_tobias_r50.py', ('c4', 'fpn'))
    METHODS[f'{_name} + copy-paste'] = (f'{_folder}/{_folder}_copypaste_r50.py', ('c4', 'fpn'))
LAYOUTS = dict(c4='faster-rcnn_r50-c4_custom.py', fpn='faster-rcnn_r50_fpn_custom.py')
CLASSES = ('red_square', 'blue_bar')

# the detector configs at the ResNet-18 width the pretraining runs have, small and cheap
DET_R18 = DET_R18_OPTIONS
DET_SMALL = [*DET_SMALL_OPTIONS, 'default_hooks.checkpoint=None']


@pytest.fixture(scope='module')
def voc_root(box_folder, tmp_path_factory):
    """A VOC-layout set with its own class names, made by tools/dataset_converters."""
    out = tmp_path_factory.mktemp('voc') / 'voc'
    pairs_to_voc.convert(box_folder, str(out), test_ratio=0.34, seed=0)
    return str(out)


@pytest.fixture(scope='module')
def pretrained(pretrain_images, tmp_path_factory):
    """method -> checkpoint of a real 2-iteration run of its config (made on demand)."""
    tmp = tmp_path_factory.mktemp('pretrain')
    done = {}

    def get(method):
        if method not in done:
            config, _ = METHODS[method]
            name = osp.splitext(config)[0].replace('/', '_')
            tiny = tiny_pretrain_config(osp.join(ROOT, 'configs', config),
                                        str(tmp / f'{name}.py'), pretrain_images,
                                        str(tmp / f'{name}.tmask'))
            work_dir = str(tmp / name)
            runner = train.main([tiny, '--work-dir', work_dir, '--cfg-options',
                                 'train_dataloader.num_workers=0'])
            assert runner.iter == 2
            done[method] = osp.join(work_dir, 'epoch_1.pth')
        return done[method]

    return get


def _fine_tune(ckpt, layout, voc_root, work_dir, capsys):
    det_train.main([
        osp.join(DET_CFG, LAYOUTS[layout]), '--pretrained', ckpt, '--data-root', voc_root,
        '--classes', *CLASSES, '--max-iters', '2', '--short-side', '64', '--work-dir',
        work_dir, '--cfg-options', *DET_SMALL, *DET_R18[layout]
    ])
    last = capsys.readouterr().out.strip().splitlines()[-1]
    with open(osp.join(work_dir, 'det_results.json')) as f:
        return json.load(f), last


def _groups(init, layout):
    """What the checkpoint initialised, per part of the detector."""
    missing = init['missing']
    loaded = init['loaded']

    def covered(prefix, new_in_detector=()):
        n = sum(v for k, v in loaded.items() if (k + '.').startswith(prefix))
        return n, [k for k in missing
                   if k.startswith(prefix) and not k.startswith(new_in_detector)]

    parts = dict(backbone=covered('backbone.'))
    if layout == 'c4':
        # res5 comes from layer4; the extra norm after it is the detector's own
        parts['res5 head'] = covered('roi_head.shared_head.',
                                     new_in_detector=('roi_head.shared_head.norm.', ))
    else:
        parts['neck'] = covered('neck.')
        parts['head convs'] = covered('roi_head.bbox_head.shared_convs.')
        parts['fc1'] = covered('roi_head.bbox_head.shared_fcs.')  # 4conv-1fc: fc1 only
    return parts


CASES = [(m, layout) for m, (_, layouts) in METHODS.items() for layout in layouts]
EXPECT_HEAD = {'InsLoc-FPN'}  # the methods whose neck and box head transfer too


@pytest.mark.slow
@pytest.mark.parametrize('method,layout', CASES)
def test_pretrain_convert_fine_tune(method, layout, pretrained, voc_root, tmp_path, capsys):
    ckpt = pretrained(method)
    result, last = _fine_tune(ckpt, layout, voc_root, str(tmp_path / 'det'), capsys)
    assert last.startswith('AP50='), last
    init = result['init']
    assert init['unexpected'] == []
    # once the runner has initialised the detector, every loaded tensor still holds the
    # converted checkpoint's value (no later init overwrote it)
    values = init['values']
    assert values['compared'] > 0 and values['differ'] == [], (method, values['differ'][:5])
    assert values['equal'] == values['compared'] and values['max_abs_diff'] == 0
    parts = _groups(init, layout)
    n, missing = parts['backbone']
    assert n > 0 and missing == [], (method, missing[:5])
    if layout == 'c4':
        n, missing = parts['res5 head']
        assert n > 0 and missing == [], (method, missing[:5])
    for part in ('neck', 'head convs', 'fc1'):
        if part not in parts:
            continue
        n, missing = parts[part]
        if method in EXPECT_HEAD:
            assert n > 0 and missing == [], (method, part, missing[:5])
        else:
            assert n == 0, (method, part)


@pytest.mark.slow
@pytest.mark.parametrize('method', list(METHODS))
def test_scda_evaluator_on_the_pretrained_backbone(method, pretrained, box_folder, tmp_path):
    ckpt = pretrained(method)
    # the kangaroo-layout config (images/ + annots/) on this folder, with the checkpoint
    # (one set of weights: one pass, no seeds), as scda_r50_pretrained_cub.py does for CUB
    metrics, runner = test_tool.main([
        osp.join(ROOT, 'configs', 'scda_localization', 'scda_r50_kaiming_kangaroo.py'), ckpt,
        '--work-dir', str(tmp_path), '--cfg-options', 'model.seeds=None',
        'model.backbone.depth=18', f'test_dataloader.dataset.data_root={box_folder}',
        'test_dataloader.num_workers=0', 'test_dataloader.batch_size=6'])
    assert 0 <= metrics['scda/corloc_class'] <= 100, metrics
    # the evaluated network is the pretrained backbone, not a random one
    state = torch.load(ckpt, map_location='cpu', weights_only=True)['state_dict']
    evaluated = runner.model.state_dict()
    name = next(k for k in evaluated if k.endswith('layer4.1.conv2.weight'))
    assert torch.equal(evaluated[name], state['backbone.layer4.1.conv2.weight'])


def transfer_table():
    """The docs' "From pretraining to detection" table: what the test above asserts."""
    lines = ['| method | config | detector | backbone | res5 head (C4) | FPN neck | '
             'box head convs + fc1 |', '|---|---|---|---|---|---|---|']
    for method, (config, layouts) in METHODS.items():
        for layout in layouts:
            head = 'yes' if method in EXPECT_HEAD else '-'
            lines.append(
                f'| {method} | `configs/{config}` | {layout.upper()} | all | '
                f'{"all (layer4)" if layout == "c4" else "-"} | '
                f'{"all" if layout == "fpn" and head == "yes" else "-"} | '
                f'{"yes" if head == "yes" else "-"} |')
    return '\n'.join(lines)


def test_docs_table_matches_the_matrix():
    with open(osp.join(ROOT, 'docs', 'detection_transfer.md')) as f:
        page = f.read()
    assert transfer_table() in page, (
        'docs/detection_transfer.md must contain the table printed by\n'
        'python -c "import tests.test_chain.test_pretrain_to_detect as t; '
        'print(t.transfer_table())"\n' + transfer_table())
