# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""tools/det_train.py end to end on CPU: 2 iterations + test, C4 and FPN, own classes."""
import glob
import json
import os.path as osp

import pytest
import torch
from mmengine.runner import Runner
from mmpretrain.models import ResNet as MMPretrainResNet

from mmtobias.testing import DET_R18_OPTIONS, DET_SMALL_OPTIONS, load_script, make_box_folder

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CFG = osp.join(ROOT, 'configs', 'benchmarks', 'mmdetection', 'voc-layout')

det_train = load_script(osp.join(ROOT, 'tools', 'det_train.py'))
pairs_to_voc = load_script(osp.join(ROOT, 'tools', 'dataset_converters', 'pairs_to_voc.py'))

# ResNet-18, tiny images, few proposals and RoIs: cheap on 2 busy cores (the R50 configs
# themselves are built in tests/test_det/test_configs.py)
R18_FPN = DET_R18_OPTIONS['fpn']
R18_C4 = DET_R18_OPTIONS['c4']
SMALL = DET_SMALL_OPTIONS


@pytest.fixture(scope='module')
def voc_dataset(tmp_path_factory):
    """6 images of coloured rectangles named 'red_square' / 'blue_bar', VOC layout."""
    tmp = tmp_path_factory.mktemp('det')
    src = make_box_folder(str(tmp / 'src'))
    out = tmp / 'voc'
    pairs_to_voc.convert(src, str(out), test_ratio=0.34, seed=0)
    return str(out)


def _run(args, capsys):
    metrics = det_train.main(args)
    lines = capsys.readouterr().out.strip().splitlines()
    return metrics, lines[-1]


def _moco_checkpoint(tmp_path):
    """A seeded ResNet-18 saved as a MoCo-style ``backbone.*`` checkpoint: (state, path)."""
    torch.manual_seed(0)
    backbone = MMPretrainResNet(depth=18).state_dict()
    ckpt = str(tmp_path / 'mocov2.pth')
    torch.save(dict(state_dict={f'backbone.{k}': v for k, v in backbone.items()}), ckpt)
    return backbone, ckpt


def _logged_lr(work_dir):
    """``{iteration: lr}`` from the run's ``vis_data/scalars.json``."""
    (path, ) = glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))
    with open(path) as f:
        rows = [json.loads(line) for line in f]
    return {row['step']: row['lr'] for row in rows if 'lr' in row}


@pytest.mark.slow
def test_fpn_random_init_trains_two_iterations_and_tests(voc_dataset, tmp_path, capsys):
    work = str(tmp_path / 'fpn')
    # mmdet's runtime names its visualizer 'visualizer': in one process every later Runner
    # gets the first one's instance, which writes scalars.json under the first work dir
    args = [
        osp.join(CFG, 'faster-rcnn_r50_fpn_custom.py'), '--pretrained', 'none',
        '--data-root', voc_dataset, '--max-iters', '2', '--short-side', '64',
        '--work-dir', work, '--cfg-options', *SMALL, *R18_FPN, 'default_hooks.checkpoint=None',
        f'visualizer.name=visualizer_{tmp_path.name}'
    ]
    metrics = det_train.main(args)
    lines = capsys.readouterr().out.strip().splitlines()
    last = lines[-1]
    assert last.startswith('AP50=') and ' AP=' in last and ' AP75=' in last
    assert 'pascal_voc/AP10' in metrics and 'pascal_voc/AP90' in metrics
    with open(osp.join(work, 'det_results.json')) as f:
        result = json.load(f)
    assert result['max_iters'] == 2 and len(result['ap_vs_iou']) == 9
    # 1 process x 2 images: the protocol's lr per image (0.02 at 16 -> 0.0025) after the
    # warm-up (800 of 192k scaled to 2 iterations is less than one: the shortest warm-up
    # that MMEngine's LinearLR leaves, end=2), said in one line
    (line, ) = [ln for ln in lines if 'protocol: ' in ln]
    assert line.endswith(
        'protocol: 1 processes x 2 images = 2 images/iteration (reference 16): lr 0.0025 '
        '(config 0.02 at 16), 2 iterations, steps [2, 2], warm-up 2 iterations')
    assert result['protocol']['lr'] == pytest.approx(0.0025)
    lr = _logged_lr(work)
    assert lr[1] == pytest.approx(0.0025 * 0.001) and lr[2] == pytest.approx(0.0025)


@pytest.mark.slow
def test_c4_from_a_moco_checkpoint_with_classes_from_the_command_line(
        voc_dataset, tmp_path, capsys):
    backbone, ckpt = _moco_checkpoint(tmp_path)
    work = str(tmp_path / 'c4')
    metrics, last = _run([
        osp.join(CFG, 'faster-rcnn_r50-c4_custom.py'), '--pretrained', ckpt,
        '--data-root', voc_dataset, '--classes', 'blue_bar', 'red_square',
        '--max-iters', '2', '--short-side', '64', '--work-dir', work, '--cfg-options', *SMALL,
        *R18_C4
    ], capsys)
    assert last.startswith('AP50=')
    assert osp.isfile(osp.join(work, 'pretrained_c4.pth'))
    # the load report: after the runner's init every converted tensor holds the
    # checkpoint's value
    with open(osp.join(work, 'det_results.json')) as f:
        values = json.load(f)['init']['values']
    assert values['compared'] == len(backbone) and values['equal'] == values['compared']
    assert values['differ'] == [] and values['max_abs_diff'] == 0
    # the detector started from the checkpoint: res5 (shared head) came from layer4 and
    # moved by 2 SGD steps at most a little
    trained = torch.load(osp.join(work, 'iter_2.pth'), weights_only=True)['state_dict']
    w0 = backbone['layer4.0.conv1.weight']
    w2 = trained['roi_head.shared_head.layer4.0.conv1.weight']
    assert torch.allclose(w0, w2, atol=1e-2) and not torch.equal(w0, w2)


@pytest.mark.slow
def test_load_report_flags_tensors_overwritten_after_loading(voc_dataset, tmp_path, capsys,
                                                             monkeypatch):
    backbone, ckpt = _moco_checkpoint(tmp_path)
    load_or_resume = Runner.load_or_resume

    def load_then_reinit(runner):  # a later init, as a misplaced init_cfg would do
        load_or_resume(runner)
        with torch.no_grad():
            runner.model.backbone.layer1[0].conv1.weight.normal_()

    monkeypatch.setattr(Runner, 'load_or_resume', load_then_reinit)
    work = str(tmp_path / 'fpn')
    _run([
        osp.join(CFG, 'faster-rcnn_r50_fpn_custom.py'), '--pretrained', ckpt,
        '--data-root', voc_dataset, '--max-iters', '1', '--short-side', '64',
        '--work-dir', work, '--cfg-options', *SMALL, *R18_FPN, 'default_hooks.checkpoint=None'
    ], capsys)
    with open(osp.join(work, 'det_results.json')) as f:
        values = json.load(f)['init']['values']
    assert values['differ'] == ['backbone.layer1.0.conv1.weight']
    assert values['equal'] == values['compared'] - 1 == len(backbone) - 1
    assert values['max_abs_diff'] > 0.1


@pytest.mark.slow
def test_frozen_norm_keeps_the_checkpoints_affine_and_reestimates_statistics(
        voc_dataset, tmp_path, capsys):
    backbone, ckpt = _moco_checkpoint(tmp_path)
    work = str(tmp_path / 'c4_frozen')
    _, last = _run([
        osp.join(CFG, 'faster-rcnn_r50-c4_custom.py'), '--pretrained', ckpt,
        '--data-root', voc_dataset, '--max-iters', '2', '--short-side', '64',
        '--work-dir', work, '--norm', 'frozen', '--frozen-bn-images', '2',
        '--precise-bn', '2', '--cfg-options', *SMALL, *R18_C4,
        f'visualizer.name=visualizer_{tmp_path.name}'
    ], capsys)
    assert last.startswith('AP50=')
    with open(osp.join(work, 'det_results.json')) as f:
        result = json.load(f)
    # the loaded values are checked before the statistics are re-estimated
    values = result['init']['values']
    assert values['differ'] == [] and values['equal'] == len(backbone)
    # every BN is frozen in C4 (backbone and res5 head): precise BN has nothing to do
    assert result['norm'] == dict(mode='frozen', precise_bn_images=2, precise_bn_layers=0)
    trained = torch.load(osp.join(work, 'iter_2.pth'), weights_only=True)['state_dict']
    for name in ('bn1', 'layer1.0.bn1'):
        for key in ('weight', 'bias'):  # frozen affine: exactly the checkpoint's
            assert torch.equal(trained[f'backbone.{name}.{key}'], backbone[f'{name}.{key}'])
        # statistics of the cards-like images, not the checkpoint's
        assert not torch.allclose(trained[f'backbone.{name}.running_mean'],
                                  backbone[f'{name}.running_mean'])
    assert torch.equal(trained['roi_head.shared_head.layer4.0.bn1.weight'],
                       backbone['layer4.0.bn1.weight'])
    assert not torch.equal(trained['backbone.layer1.0.conv1.weight'],
                           backbone['layer1.0.conv1.weight'])  # the convs train


@pytest.mark.slow
def test_precise_bn_tests_before_and_after(voc_dataset, tmp_path, capsys):
    work = str(tmp_path / 'fpn_precise')
    _, last = _run([
        osp.join(CFG, 'faster-rcnn_r50_fpn_custom.py'), '--pretrained', 'none',
        '--data-root', voc_dataset, '--max-iters', '2', '--short-side', '64',
        '--work-dir', work, '--precise-bn', '4', '--cfg-options', *SMALL, *R18_FPN,
        f'visualizer.name=visualizer_{tmp_path.name}'
    ], capsys)
    with open(osp.join(work, 'det_results.json')) as f:
        result = json.load(f)
    # the config's BN trains in the backbone (20), the FPN (8) and the box head (4)
    assert result['norm'] == dict(mode='config', precise_bn_images=4, precise_bn_layers=32)
    assert 'pascal_voc/AP50' in result['metrics_running_bn']
    assert len(result['ap_vs_iou_running_bn']) == 9 and last.startswith('AP50=')


def _build(config, world_size, *extra):
    args = det_train.parse_args([osp.join(CFG, config), '--pretrained', 'none', *extra])
    return det_train.build_cfg(args, world_size=world_size)


@pytest.mark.parametrize('config', ['faster-rcnn_r50_fpn_custom.py',
                                    'faster-rcnn_r50-c4_custom.py'])
@pytest.mark.parametrize('world_size,lr,iters,steps,warmup', [
    (1, 0.0025, 192000, [144000, 176000], 800),
    (2, 0.005, 96000, [72000, 88000], 400),
    (8, 0.02, 24000, [18000, 22000], 100),
])
def test_schedule_keeps_the_protocol_per_image(config, world_size, lr, iters, steps, warmup):
    cfg, _, protocol = _build(config, world_size)
    assert cfg.auto_scale_lr == dict(enable=True, base_batch_size=16)
    assert cfg.optim_wrapper.optimizer.lr == 0.02  # MMEngine scales it, once
    assert cfg.train_cfg.max_iters == iters and cfg.train_cfg.val_interval == iters
    assert cfg.param_scheduler[0].end == warmup
    assert cfg.param_scheduler[1].milestones == steps and cfg.param_scheduler[1].end == iters
    assert cfg.default_hooks.checkpoint.interval == 2000  # kept: an interruption guard
    assert protocol == dict(processes=world_size, images_per_process=2,
                            total_batch=2 * world_size, reference_batch=16, scaled=True,
                            lr=pytest.approx(lr), config_lr=0.02, max_iters=iters,
                            steps=steps, warmup_iters=warmup)
    # the same images: iterations x total batch = the config's 24k x 16
    assert iters * 2 * world_size == 24000 * 16


def test_protocol_line_says_processes_images_lr_iterations_steps_warm_up():
    _, _, protocol = _build('faster-rcnn_r50-c4_custom.py', 1)
    assert det_train.protocol_line(protocol) == (
        'protocol: 1 processes x 2 images = 2 images/iteration (reference 16): lr 0.0025 '
        '(config 0.02 at 16), 192000 iterations, steps [144000, 176000], warm-up 800 '
        'iterations')
    _, _, protocol = _build('faster-rcnn_r50-c4_custom.py', 1, '--keep-schedule')
    assert det_train.protocol_line(protocol) == (
        'protocol: 1 processes x 2 images = 2 images/iteration (reference 16): as written '
        '(--keep-schedule): lr 0.02, 24000 iterations, steps [18000, 22000], warm-up 100 '
        'iterations')


@pytest.mark.parametrize('world_size', [1, 2, 8])
def test_keep_schedule_trains_the_config_as_written(world_size):
    cfg, _, protocol = _build('faster-rcnn_r50_fpn_custom.py', world_size, '--keep-schedule')
    assert cfg.auto_scale_lr == dict(enable=False, base_batch_size=16)
    assert cfg.optim_wrapper.optimizer.lr == 0.02 and protocol['lr'] == 0.02
    assert cfg.train_cfg.max_iters == 24000 and cfg.param_scheduler[0].end == 100
    assert cfg.param_scheduler[1].milestones == [18000, 22000]
    assert not protocol['scaled'] and protocol['total_batch'] == 2 * world_size


@pytest.mark.slow
def test_runner_trains_at_the_scaled_lr_after_warm_up(voc_dataset, tmp_path):
    """MMEngine's auto_scale_lr scales the lr once: 0.0025 after the 800 warm-up
    iterations on 1 process x 2 images."""
    cfg, _, _ = _build('faster-rcnn_r50_fpn_custom.py', 1, '--work-dir', str(tmp_path),
                       '--data-root', voc_dataset, '--cfg-options', *SMALL, *R18_FPN)
    runner = Runner.from_cfg(cfg)
    runner.optim_wrapper = runner.build_optim_wrapper(runner.optim_wrapper)
    runner.scale_lr(runner.optim_wrapper, runner.auto_scale_lr)  # as Runner.train() does
    schedulers = runner.build_param_scheduler(runner.param_schedulers)

    done = [0]

    def lr_at(iteration):  # the schedule alone, as ParamSchedulerHook steps it
        for _ in range(iteration - done[0]):
            for scheduler in schedulers:
                scheduler.step()
        done[0] = iteration
        return runner.optim_wrapper.get_lr()['lr'][0]

    assert lr_at(0) == pytest.approx(0.0025 * 0.001)
    assert lr_at(400) < 0.002 and lr_at(800) == pytest.approx(0.0025)
    assert lr_at(1000) == pytest.approx(0.0025)


@pytest.mark.parametrize('max_iters', [200, 2400, 12000, 48000])
def test_max_iters_scales_warm_up_and_steps_by_the_same_fraction(max_iters):
    for world_size in (1, 8):  # after the scaling to the total batch, whatever it was
        cfg, _, protocol = _build('faster-rcnn_r50_fpn_custom.py', world_size,
                                  '--max-iters', str(max_iters))
        assert cfg.train_cfg.max_iters == protocol['max_iters'] == max_iters
        # 100 / 24000 and [18000, 22000] / 24000 of the run: no cap at max_iters // 10
        # (LinearLR needs end >= 2 to leave its start factor)
        assert cfg.param_scheduler[0].end == max(2, round(max_iters / 240))
        assert cfg.param_scheduler[1].milestones == [round(max_iters * 0.75),
                                                     round(max_iters * 22 / 24)]
        assert cfg.param_scheduler[1].end == max_iters
        assert protocol['lr'] == pytest.approx(0.02 * world_size / 8)


def scaling_table():
    """The table of docs/detection_transfer.md "Fine-tuning on fewer GPUs", from build_cfg."""
    voc = osp.join(ROOT, 'configs', 'benchmarks', 'mmdetection', 'voc0712',
                   'faster-rcnn_r50-c4_ms-24k_voc0712.py')
    lines = ['| processes | images / iteration | lr after warm-up | iterations | lr steps | '
             'warm-up iterations |', '|---|---|---|---|---|---|']
    for n, name in ((1, '1 GPU, or CPU'), (2, '2 GPUs'), (4, '4 GPUs'), (8, '8 GPUs')):
        _, _, p = det_train.build_cfg(det_train.parse_args([voc, '--pretrained', 'none']),
                                      world_size=n)
        lines.append(f"| {name} | {p['total_batch']} | {p['lr']:g} | {p['max_iters']} | "
                     f"{', '.join(map(str, p['steps']))} | {p['warmup_iters']} |")
    return '\n'.join(lines)


def test_docs_scaling_table_matches_det_train():
    with open(osp.join(ROOT, 'docs', 'detection_transfer.md')) as f:
        assert scaling_table() in f.read(), (
            'docs/detection_transfer.md "Fine-tuning on fewer GPUs" must hold\n' + scaling_table())


def test_scaling_errors_name_the_field(monkeypatch):
    args = det_train.parse_args([osp.join(CFG, 'faster-rcnn_r50_fpn_custom.py'),
                                 '--pretrained', 'none', '--cfg-options',
                                 'auto_scale_lr.base_batch_size=None'])
    with pytest.raises(ValueError, match='auto_scale_lr.base_batch_size'):
        det_train.build_cfg(args, world_size=1)
    args.cfg_options = {'param_scheduler.0.by_epoch': True}
    with pytest.raises(ValueError, match=r'param_scheduler\[0\] \(LinearLR\) is epoch-based'):
        det_train.build_cfg(args, world_size=1)
    monkeypatch.delenv('WORLD_SIZE', raising=False)
    with pytest.raises(ValueError, match=r'--launcher pytorch needs .* \$WORLD_SIZE'):
        det_train.launcher_world_size('pytorch')
    monkeypatch.setenv('SLURM_NTASKS', '4')
    assert det_train.launcher_world_size('slurm') == 4
    assert det_train.launcher_world_size('none') == 1


def test_build_cfg_scales_schedule_and_rejects_bad_input(voc_dataset, tmp_path):
    args = det_train.parse_args([
        osp.join(CFG, 'faster-rcnn_r50_fpn_custom.py'), '--pretrained', 'none',
        '--data-root', voc_dataset, '--max-iters', '240', '--short-side', '400',
        '--work-dir', str(tmp_path)])
    cfg, report, _ = det_train.build_cfg(args)
    assert report is None
    assert cfg.param_scheduler[1].milestones == [180, 220]  # 18k/22k of 24k
    assert cfg.param_scheduler[0].end == 2  # 100 of 24k is 1, the shortest warm-up is 2
    assert cfg.train_dataloader.dataset.metainfo.classes == ('blue_bar', 'red_square')
    assert cfg.model.roi_head.bbox_head.num_classes == 2
    assert cfg.test_dataloader.dataset.pipeline[1].scale == (666, 400)
    assert cfg.train_dataloader.dataset.pipeline[2].scales[0] == (666, 240)
    assert cfg.val_dataloader is None
    with pytest.raises(ValueError, match='not a directory'):
        det_train.build_cfg(det_train.parse_args([
            osp.join(CFG, 'faster-rcnn_r50_fpn_custom.py'), '--pretrained', 'none',
            '--data-root', str(tmp_path / 'missing')]))


def test_syncbn_becomes_bn_in_the_config_tree():
    tree = dict(a=dict(type='SyncBN'), b=[dict(norm_cfg=dict(type='SyncBN'))])
    det_train.syncbn_to_bn(tree)
    assert tree == dict(a=dict(type='BN'), b=[dict(norm_cfg=dict(type='BN'))])


def test_summary_line_reads_voc_and_coco_keys():
    assert det_train.summary_line({'pascal_voc/mAP': .5, 'pascal_voc/AP50': .8,
                                   'pascal_voc/AP75': .55}) == 'AP50=80.00 AP=50.00 AP75=55.00'
    assert det_train.summary_line({'coco/bbox_mAP': .4, 'coco/bbox_mAP_50': .6,
                                   'coco/bbox_mAP_75': .45}) == 'AP50=60.00 AP=40.00 AP75=45.00'
