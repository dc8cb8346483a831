# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
import json
import os
import os.path as osp
import sys

import pytest
from mmengine.config import Config

from mmtobias.testing import walk_dicts

PROJECT = osp.dirname(osp.dirname(osp.abspath(__file__)))  # projects/foreground_study
REPO = osp.dirname(osp.dirname(PROJECT))
sys.path.insert(0, PROJECT)
import study  # noqa: E402
import study_report  # noqa: E402


@pytest.mark.parametrize('method', [m for m, s in study.METHODS.items() if s['config']])
def test_derived_config_is_the_method_at_study_scale(tmp_path, method):
    out = str(tmp_path / 'cfg.py')
    study.derive_pretrain_config(method, 'small', 3, '/data/x', '/m/train.tmask', out)
    cfg = Config.fromfile(out)
    assert cfg.model.backbone.depth == 18 and cfg.model.neck.in_channels == 512
    assert cfg.train_dataloader.dataset.data_root == '/data/x'
    assert cfg.randomness.seed == 3
    assert cfg.train_cfg.max_epochs == study.BUDGETS['small']['epochs']
    size = study.BUDGETS['small']['size']
    crops = [d for d in walk_dicts(cfg.train_dataloader) if d.get('type') == 'RandomResizedCrop']
    composites = [d for d in walk_dicts(cfg.train_dataloader)
                  if d.get('type') == 'InsLocComposite']
    if method.startswith('insloc'):
        # composites at the study's size, paste sizes scaled from (128, 255) at 256 px
        assert composites and not crops
        assert all(d['bg_size'] == size and d['paste_size_range'] == (48, 96)
                   for d in composites)
    else:
        assert crops and all(d['scale'] == size for d in crops)
    masks = [d['mask_file'] for d in walk_dicts(cfg._cfg_dict.to_dict()) if 'mask_file' in d]
    assert all(m == '/m/train.tmask' for m in masks)
    swaps = [d for d in walk_dicts(cfg.train_dataloader) if d.get('type') == 'BackgroundSwap']
    if 'swap_prob' in study.METHODS[method]:
        assert swaps and all(d['prob'] == study.METHODS[method]['swap_prob'] for d in swaps)


def test_report_aggregates_seeds_with_spread(tmp_path):
    rows = tmp_path / 'rows'
    rows.mkdir()
    for seed, (knn, ap) in enumerate([(40.0, 10.0), (44.0, 14.0)]):
        row = dict(method='mocov2', seed=seed, pretrain_seconds=600,
                   probes=dict(knn_top1=knn, linear_top1=knn + 5),
                   detection=dict(AP50=ap, AP=ap / 2, AP75=ap / 4,
                                  ap_vs_iou={'0.1': ap + 5, '0.5': ap}))
        (rows / f'mocov2_seed{seed}.json').write_text(json.dumps(row))
    (rows / 'random_init_seed0.json').write_text(json.dumps(
        dict(method='random_init', seed=0, probes=dict(knn_top1=20.0))))
    study_report.write_report(str(tmp_path))
    table = (tmp_path / 'results.md').read_text()
    assert '| mocov2 | 0,1 | 42.0 ± 2.0 | 47.0 ± 2.0 | — | 12.0 ± 2.0 |' in table
    assert '| random_init | 0 | 20.0 (n=1) |' in table
    # baselines first, whatever the file order; every run listed with its own numbers
    assert table.index('| random_init | 0 |') < table.index('| mocov2 | 0,1 |')
    assert '| mocov2 | 1 | 44.0 | 49.0 | — | 14.0 | 7.0 | 3.5 | 10 | — |' in table
    assert (tmp_path / 'ap_vs_iou.png').stat().st_size > 0
    assert (tmp_path / 'linear_accuracy.png').stat().st_size > 0


def test_medium_budget_adds_the_knn_monitor_at_the_study_scale(tmp_path):
    out = str(tmp_path / 'cfg.py')
    study.derive_pretrain_config('tobias_p0.3', 'medium', 1, '/data/x', '/m/t.tmask', out,
                                 knn_roots=('/probe/train', '/probe/val'))
    cfg = Config.fromfile(out)
    b = study.BUDGETS['medium']
    assert cfg.train_cfg.max_epochs == b['epochs'] == 20 and b['size'] == 64
    assert cfg.model.backbone.depth == 18
    hooks = {h['type']: h for h in cfg.custom_hooks}
    assert 'TobiasMaskGenerator' in hooks  # the method's own hooks are kept
    knn = hooks['KNNMonitor']
    assert (knn['train_root'], knn['val_root']) == ('/probe/train', '/probe/val')
    assert knn['image_size'] == 64 and knn['by_epoch'] and knn['evaluate_at_start']
    assert (knn['interval'], knn['max_train_images'], knn['max_val_images']) == \
        (1, 1000, 500)
    assert 'ChannelsLastHook' in hooks  # one CPU process: the faster memory format
    # the small budget has no monitor, whatever the caller passes
    study.derive_pretrain_config('mocov2', 'small', 0, '/d', '/m', out,
                                 knn_roots=('/a', '/b'))
    assert not [h for h in Config.fromfile(out).get('custom_hooks', [])
                if h['type'] == 'KNNMonitor']


def test_budget_defaults_for_methods_seeds_and_bg_datasets():
    med = study.parse_args(['--budget', 'medium'])
    assert med.methods == ['random_init', 'mocov2', 'tobias_p0.3', 'random_merge',
                           'copypaste_gray']
    assert med.seeds == [0, 1, 2]
    assert set(med.bg_datasets) == {'kangaroo', 'cards'}
    assert med.bg_datasets['cards'][0] == med.bg_datasets['cards'][1]  # XML beside images
    small = study.parse_args(['--budget', 'small'])
    assert small.methods == study.SMALL_METHODS and small.seeds == [0, 1]
    assert set(study.SMALL_METHODS) < set(study.METHODS)
    own = study.parse_args(['--bg-data', 'roo=/i:/a', '--seeds', '4'])
    assert own.bg_datasets == {'roo': ('/i', '/a')} and own.seeds == [4]
    with pytest.raises(SystemExit):
        study.parse_args(['--bg-data', 'no-colon'])


def test_knn_curve_merges_resumed_runs(tmp_path):
    for stamp, rows in (('20260101_000000', [(0, 10.0), (2, 20.0)]),
                        ('20260102_000000', [(2, 21.0), (4, 30.0)])):
        vis = tmp_path / stamp / 'vis_data'
        vis.mkdir(parents=True)
        lines = [json.dumps({'loss': 1.0, 'step': 7})] + [
            json.dumps({'knn/top1': v, 'step': s, 'epoch': s}) for s, v in rows]
        (vis / 'scalars.json').write_text('\n'.join(lines) + '\n')
    assert study.knn_curve(str(tmp_path)) == [[0, 10.0], [2, 21.0], [4, 30.0]]
    assert study.knn_curve(str(tmp_path / 'none')) == []


def _det(ap50, seed):
    return dict(AP50=ap50, AP=ap50 / 2, AP75=ap50 / 4, seconds=60.0, seed=seed,
                ap_vs_iou={'0.1': ap50 + 10, '0.5': ap50})


def test_finetunes_are_averaged_with_their_own_spread(tmp_path):
    agg = study.aggregate_finetunes([_det(10.0, 0), _det(14.0, 1000)])
    assert (agg['AP50'], agg['AP'], agg['finetune_spread']['AP50']) == (12.0, 6.0, 2.0)
    assert agg['ap_vs_iou'] == {'0.1': 22.0, '0.5': 12.0} and agg['seconds'] == 120.0
    assert [r['seed'] for r in agg['finetunes']] == [0, 1000]
    run_dir = tmp_path / 'run'
    run_dir.mkdir()
    assert study.cached_stage('detection', 'medium', str(run_dir)) is None
    (run_dir / 'detection.json').write_text(json.dumps(_det(10.0, 0)))
    assert study.cached_stage('detection', 'medium', str(run_dir))['AP50'] == 10.0
    (run_dir / 'detection_ft1.json').write_text(json.dumps(_det(14.0, 1000)))
    assert study.cached_stage('detection', 'medium', str(run_dir))['AP50'] == 12.0


def test_report_has_bg_columns_finetune_spread_and_learning_curve(tmp_path):
    rows = tmp_path / 'rows'
    rows.mkdir()
    for seed in (0, 1):
        bg = {n: dict(bg_minus_fg=dict(mean=0.01 * (seed + 1) + off, std=0.1))
              for n, off in (('kangaroo', 0.0), ('cards', 0.1))}
        row = dict(method='mocov2', seed=seed, pretrain_seconds=60,
                   probes=dict(knn_top1=40.0), bg_sensitivity=bg,
                   knn_curve=[[0, 20.0], [2, 30.0 + seed], [4, 35.0 + 2 * seed]],
                   detection=study.aggregate_finetunes([_det(10.0, 0), _det(14.0, 1)]))
        (rows / f'mocov2_seed{seed}.json').write_text(json.dumps(row))
    study_report.write_report(str(tmp_path))
    table = (tmp_path / 'results.md').read_text()
    header = table.splitlines()[0]
    assert header.endswith(
        '| AP75 | bg−fg cards | bg−fg kangaroo | AP50 ft± | pretrain min |')
    assert '| 0.115 ± 0.005 | 0.015 ± 0.005 | 2.0 ± 0.0 | 1 |' in table
    # per run, per dataset: bg_swap, fg_swap, bg−fg with their std over images
    assert '| backbone | cards bg_swap | cards fg_swap | cards bg−fg | kangaroo bg_swap' \
        in table
    assert '| mocov2 seed 1 | — | — | 0.120 (0.100) | — | — | 0.020 (0.100) |' in table
    assert (tmp_path / 'knn_curve.png').stat().st_size > 0
    assert study_report.curve_band([[[0, 1.0], [2, 3.0]], [[0, 3.0], [2, 5.0], [4, 9.0]]]) \
        == ([0, 2], [2.0, 4.0], [1.0, 3.0], [3.0, 5.0])


@pytest.mark.slow
def test_smoke_budget_runs_the_monitor_and_bg_sensitivity_end_to_end(tmp_path):
    """A toy study run: pretraining with the monitor, the probes and background
    sensitivity (CorLoc and detection are exercised by their own tools' tests)."""
    from mmtobias.testing import make_image_folder
    images = str(tmp_path / 'images')
    make_image_folder(images, num_images=16, size=(48, 40))
    boxes = tmp_path / 'boxes'
    paths = make_image_folder(str(boxes), num_images=3, size=(48, 40), classes=())
    for p in paths:
        name = osp.basename(p)
        (boxes / name.replace('.jpg', '.xml')).write_text(
            f'<annotation><filename>{name}</filename><object><name>x</name><bndbox>'
            '<xmin>5</xmin><ymin>5</ymin><xmax>30</xmax><ymax>30</ymax></bndbox>'
            '</object></annotation>')
    out = str(tmp_path / 'study')
    common = ['--budget', 'smoke', '--out', out, '--train-images', images,
              '--probe-train', images, '--probe-val', images,
              '--bg-data', f'toy={boxes}:{boxes}', '--seeds', '0']
    args = study.parse_args(common + ['--methods', 'mocov2', '--skip', 'corloc',
                                      'detection'])
    args.out = osp.abspath(args.out)
    row = study.run_one('mocov2', 0, args)
    assert [s for s, _ in row['knn_curve']] == [0, 1, 2]  # start + 2 iterations
    assert 0 <= row['probes']['knn_top1'] <= 100
    toy = row['bg_sensitivity']['toy']
    assert toy['images'] == 3 and toy['size'] == 64
    assert -1 <= toy['bg_minus_fg']['mean'] <= 1
    assert 'corloc' not in row and 'detection' not in row
    saved = json.loads(open(osp.join(out, 'smoke', 'rows', 'mocov2_seed0.json')).read())
    assert saved['knn_curve'] == row['knn_curve']
    study.main(common + ['--report'])
    assert osp.getsize(osp.join(out, 'smoke', 'knn_curve.png')) > 0


@pytest.mark.slow
def test_random_init_is_the_mocov2_runs_own_start(tmp_path):
    """The random-init backbone that every stage evaluates is the backbone the MoCo v2
    run of the same seed starts its first step from (tools/initial_checkpoint.py on
    the same derived config), not mmpretrain's default init."""
    import torch

    from mmtobias.testing import first_step_state, load_script, make_image_folder
    images = str(tmp_path / 'images')
    make_image_folder(images, num_images=16, size=(48, 40))
    args = study.parse_args(['--budget', 'smoke', '--out', str(tmp_path / 'study'),
                             '--train-images', images, '--probe-train', images,
                             '--probe-val', images])
    args.out = osp.abspath(args.out)
    run_dir = osp.join(args.out, 'smoke', 'random_init_seed1')
    os.makedirs(run_dir)
    ckpt = study.stage_pretrain('random_init', 'smoke', 1, run_dir, args)
    path = study.export_backbone(ckpt, 1, osp.join(run_dir, 'backbone.pth'))
    backbone = torch.load(path, weights_only=True)['state_dict']
    # the MoCo v2 run of seed 1, started as tools/train.py starts it
    cfg_path = str(tmp_path / 'mocov2.py')
    study.derive_pretrain_config('mocov2', 'smoke', 1, images,
                                 osp.join(args.out, 'masks', 'train.tmask'), cfg_path,
                                 knn_roots=(images, images))
    train = load_script(osp.join(REPO, 'tools', 'train.py'))
    cfg = train.merge_args(Config.fromfile(cfg_path), train.parse_args(
        [cfg_path, '--work-dir', str(tmp_path / 'mocov2')]))
    first = {k: v for k, v in first_step_state(cfg).items() if k.startswith('backbone.')}
    assert sorted(backbone) == sorted(first)
    for key, value in first.items():
        assert torch.equal(backbone[key], value), key
    # zero_init_residual=False as in pretraining; mmpretrain's default zeroes these
    assert torch.all(backbone['backbone.layer1.0.bn2.weight'] == 1)
    assert torch.all(study.build_backbone(None, 1).layer1[0].bn2.weight == 0)


def test_an_old_random_init_run_directory_is_refused(tmp_path):
    import torch
    old = str(tmp_path / 'backbone.pth')  # exported by the study before the change
    torch.save(dict(state_dict={}, meta=dict(source='random init')), old)
    with pytest.raises(RuntimeError, match='are stale; delete that folder'):
        study.export_backbone(str(tmp_path / 'pretrain' / 'initial.pth'), 0, old)
    assert study.export_backbone(None, 0, old) == old  # as it was made: kept


def _row(method, seed, knn, **stages):
    return dict(method=method, seed=seed, probes=dict(knn_top1=knn), **stages)


def test_report_joins_committed_rows_and_the_run_directory_wins(tmp_path):
    rows, committed = tmp_path / 'medium' / 'rows', tmp_path / 'committed'
    rows.mkdir(parents=True)
    committed.mkdir()
    (committed / 'mocov2_seed0.json').write_text(json.dumps(_row('mocov2', 0, 30.0)))
    (committed / 'mocov2_seed1.json').write_text(json.dumps(_row('mocov2', 1, 34.0)))
    # seed 1 again, rewritten in the run directory after it was committed
    (rows / 'mocov2_seed1.json').write_text(json.dumps(_row('mocov2', 1, 36.0)))
    got = study_report.write_report(str(tmp_path / 'medium'), [str(committed)])
    assert [r['probes']['knn_top1'] for r in got['mocov2']] == [30.0, 36.0]
    assert '| mocov2 | 0,1 | 33.0 ± 3.0 |' in (tmp_path / 'medium' / 'results.md').read_text()


def test_a_fresh_checkout_reports_from_committed_rows_alone(tmp_path):
    # no run has made the budget directory yet: the report must create it
    committed = tmp_path / 'committed'
    committed.mkdir()
    (committed / 'mocov2_seed0.json').write_text(json.dumps(_row('mocov2', 0, 30.0)))
    budget_dir = tmp_path / 'fresh' / 'medium'
    got = study_report.write_report(str(budget_dir), [str(committed)])
    assert [r['seed'] for r in got['mocov2']] == [0]
    assert '| mocov2 | 0 | 30.0 |' in (budget_dir / 'results.md').read_text()


def test_a_committed_run_with_every_wanted_stage_is_not_run_again(tmp_path, monkeypatch):
    committed = tmp_path / 'committed'
    committed.mkdir()
    full = _row('mocov2', 0, 30.0, corloc=dict(corloc=20.0), bg_sensitivity={})
    (committed / 'mocov2_seed0.json').write_text(json.dumps(full))
    (committed / 'mocov2_seed1.json').write_text(json.dumps(_row('mocov2', 1, 31.0)))
    args = study.parse_args(['--budget', 'medium', '--out', str(tmp_path / 'out'),
                             '--committed-rows', str(committed), '--skip', 'detection'])
    calls = []
    monkeypatch.setattr(study, 'stage_pretrain', lambda *a: calls.append(a) or None)
    monkeypatch.setattr(study, 'export_backbone', lambda *a: None)
    for name in ('stage_probes', 'stage_corloc', 'stage_bg_sensitivity'):
        monkeypatch.setattr(study, name, lambda *a: {'ran': True})
    assert study.run_one('mocov2', 0, args) == full and not calls  # every stage is there
    assert study.run_one('mocov2', 1, args)['corloc'] == {'ran': True}  # no CorLoc yet
    assert len(calls) == 1
    # asking for detection too: the committed seed-0 row has none, so it runs
    args.skip = []
    monkeypatch.setattr(study, 'stage_detection', lambda *a: {'AP50': 1.0})
    assert study.run_one('mocov2', 0, args)['detection'] == {'AP50': 1.0}
    with pytest.raises(SystemExit):
        study.parse_args(['--budget', 'medium', '--publish'])


def test_publish_writes_every_reported_row_and_the_curve_beside_them(tmp_path):
    out, committed = tmp_path / 'out', tmp_path / 'results' / 'study_medium_rows'
    (out / 'medium' / 'rows').mkdir(parents=True)
    committed.mkdir(parents=True)
    (committed / 'mocov2_seed0.json').write_text(json.dumps(_row('mocov2', 0, 30.0)))
    new = _row('tobias_p0.3', 1, 33.0, knn_curve=[[0, 20.0], [1, 25.0]])
    (out / 'medium' / 'rows' / 'tobias_p0.3_seed1.json').write_text(json.dumps(new))
    study.main(['--budget', 'medium', '--out', str(out), '--report', '--publish',
                '--committed-rows', str(committed)])
    assert sorted(p.name for p in committed.iterdir()) == \
        ['mocov2_seed0.json', 'tobias_p0.3_seed1.json']
    assert json.loads((committed / 'tobias_p0.3_seed1.json').read_text()) == new
    assert (tmp_path / 'results' / 'study_medium_knn_curve.png').stat().st_size > 0
    assert not (tmp_path / 'results' / 'study_medium_ap_vs_iou.png').exists()  # no AP yet
    det = dict(AP50=20.0, AP=7.0, AP75=3.0, ap_vs_iou={'0.5': 20.0, '0.7': 6.0})
    (committed / 'mocov2_seed0.json').write_text(
        json.dumps(_row('mocov2', 0, 30.0, detection=det)))
    study.main(['--budget', 'medium', '--out', str(out), '--report', '--publish',
                '--committed-rows', str(committed)])
    assert (tmp_path / 'results' / 'study_medium_ap_vs_iou.png').stat().st_size > 0
    # the tables beside the rows are the ones the committed rows alone reproduce
    study_report.write_report(str(tmp_path / 'fresh'), [str(committed)])
    assert (tmp_path / 'results' / 'study_medium.md').read_text() == \
        (tmp_path / 'fresh' / 'results.md').read_text()


def _ft(ap50, seed, running=None):
    ft = dict(AP50=ap50, AP=ap50 / 2, AP75=ap50 / 4, seed=seed, seconds=1.0,
              ap_vs_iou={'0.5': ap50})
    if running is not None:
        ft['running_bn'] = dict(AP50=running, AP=running / 2, AP75=running / 4)
    return ft


def test_paired_table_pairs_finetunes_by_seed_with_standard_errors():
    # random init 10/12/14, MoCo v2 13/14/18 at fine-tune seeds 0/1000/2000 (seed 0),
    # and a MoCo v2 fine-tune at seed 3000 that random init lacks (unpaired: left out)
    rand = dict(method='random_init', seed=0, detection=study.aggregate_finetunes(
        [_ft(10.0, 0, 9.0), _ft(12.0, 1000, 12.0), _ft(14.0, 2000, 11.0)]),
        detection_frozen=study.aggregate_finetunes([_ft(8.0, 0), _ft(9.0, 1000)]))
    moco = dict(method='mocov2', seed=0, detection=study.aggregate_finetunes(
        [_ft(13.0, 0, 12.0), _ft(14.0, 1000), _ft(18.0, 2000), _ft(30.0, 3000)]))
    table = study_report.paired_table({'random_init': [rand], 'mocov2': [moco]})
    lines = table.splitlines()
    assert lines[0] == '| fine-tune | comparison | ΔAP50 | ΔAP | ΔAP75 |'
    # differences 3, 2, 4: mean 3, sample std 1, SE 1/sqrt(3)
    assert '| detection | mocov2 − random_init | +3.0 ± 0.6 (n=3) | +1.5 ± 0.3 (n=3) |' \
        in table
    # with the running statistics only fine-tune seed 0 was tested both ways: 12 - 9
    assert '| detection | mocov2 − random_init, running BN | +3.0 (n=1) |' in table
    # precise BN minus running statistics: 1, 0, 3 -> +1.3 ± 0.9
    assert '| detection | random_init: precise BN − running BN | +1.3 ± 0.9 (n=3) |' in table
    # the frozen variant against the protocol on the same backbone: -2, -3
    assert '| detection_frozen | random_init: frozen − protocol | -2.5 ± 0.5 (n=2) |' \
        in table
    assert not any('detection_frozen | mocov2 −' in ln for ln in lines)  # no frozen MoCo
    assert study_report.mean_se([5.0]) == (5.0, None)
    assert study_report.paired_table({'mocov2': [dict(method='mocov2', seed=0)]}) == ''


def test_detection_variants_keep_their_own_files_and_row_keys(tmp_path):
    args = study.parse_args(['--budget', 'medium2', '--det-norm', 'frozen', '--det-lr',
                             '0.01'])
    assert study.det_variant(args) == 'frozen_lr0.01'
    assert study.det_variant(study.parse_args(['--budget', 'medium2'])) == ''
    assert study.finetune_name(2, 'frozen') == 'detection_ft2_frozen'
    run_dir = tmp_path / 'run'
    run_dir.mkdir()
    for name in ('detection', 'detection_ft1', 'detection_frozen', 'detection_ft2_frozen',
                 'detection_lr0.01'):
        (run_dir / f'{name}.json').write_text(json.dumps(_ft(1.0, 0)))
    assert study.detection_variants(str(run_dir)) == ['frozen', 'lr0.01']
    assert len(study.cached_detection('medium2', str(run_dir), 'frozen')['finetunes']) == 2
    # 5 epochs of a 296-image training set at 2 images per iteration
    voc = tmp_path / 'voc' / 'ImageSets' / 'Main'
    voc.mkdir(parents=True)
    (voc / 'trainval.txt').write_text(''.join(f'{i:06d}\n' for i in range(296)))
    args.det_voc = str(tmp_path / 'voc')
    assert study.det_iterations('medium2', args) == 740
    assert study.det_iterations('medium', args) == 200
