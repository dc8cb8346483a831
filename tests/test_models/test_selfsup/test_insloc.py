# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import default_collate
from mmengine.registry import DefaultScope
from PIL import Image
from mmdet.structures.bbox import bbox_overlaps

import mmtobias  # noqa: F401  (registers the components)
from mmpretrain.registry import DATASETS, MODELS
from mmpretrain.structures import DataSample
from mmtobias.models.selfsup import AnchorBoxAugment
from mmtobias.testing import shrink_config

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))

# a tiny ResNet-18 (channels 16/32/64/128), same structure as the configs
BACKBONE = dict(type='ResNet', depth=18, stem_channels=16, base_channels=16)
HEAD = dict(
    type='ContrastiveHead', loss=dict(type='CrossEntropyLoss'),
    temperature=0.2)


@pytest.fixture(autouse=True)
def mmpretrain_scope():
    # one thread: tiny convs are far slower with OpenMP on a busy machine
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        yield
    torch.set_num_threads(threads)


def tiny_insloc(arch='c4', queue_len=16, **kwargs):
    if arch == 'c4':
        cfg = dict(
            backbone=BACKBONE,
            neck=dict(type='MoCoV2Neck', in_channels=128, hid_channels=64,
                      out_channels=32, with_avg_pool=True),
            roi_strides=(16, ))
    else:
        cfg = dict(
            backbone=dict(BACKBONE, out_indices=(0, 1, 2, 3)),
            neck=dict(type='mmdet.FPN', in_channels=[16, 32, 64, 128],
                      out_channels=32, num_outs=4),
            box_head=dict(type='InsLocBoxHead', in_channels=32,
                          conv_channels=32, fc_channels=64, out_channels=32),
            roi_strides=(4, 8, 16, 32))
    cfg.update(type='InsLoc', head=HEAD, queue_len=queue_len, feat_dim=32,
               **kwargs)
    return MODELS.build(cfg)


def random_batch(n=4, size=96, seed=0):
    g = torch.Generator().manual_seed(seed)
    imgs = [torch.randint(0, 256, (n, 3, size, size), generator=g)
            .float() for _ in range(2)]
    wh = torch.randint(32, size - 8, (n, 2, 2), generator=g).float()
    xy = torch.rand(n, 2, 2, generator=g) * (size - wh)
    boxes = torch.cat([xy, xy + wh], dim=2)  # N x views x 4
    samples = [DataSample(gt_bboxes=b.numpy()) for b in boxes]
    return imgs, samples


def test_roi_feature_shapes_per_level():
    imgs, samples = random_batch(n=3)
    boxes = torch.stack([torch.as_tensor(s.gt_bboxes[0]) for s in samples])
    fpn = tiny_insloc('fpn')
    feats = fpn.extract_roi_feats(imgs[0], [boxes] * 4)
    assert [f.shape for f in feats] == [(3, 32, 7, 7)] * 4
    c4 = tiny_insloc('c4')
    feats = c4.extract_roi_feats(imgs[0], [boxes])
    assert [f.shape for f in feats] == [(3, 64, 7, 7)]  # res4 channels
    assert c4._embed(imgs[0], [boxes]).shape == (1, 3, 32)


def test_one_queue_per_level_advancing():
    torch.manual_seed(0)
    model = tiny_insloc('fpn', queue_len=8)
    before = model.queue.clone()
    imgs, samples = random_batch(n=4)
    losses = model.loss(imgs, samples)
    assert sorted(losses) == ['loss_p2', 'loss_p3', 'loss_p4', 'loss_p5']
    assert all(torch.isfinite(v) for v in losses.values())
    assert model.queue.shape == (4, 32, 8) and int(model.queue_ptr) == 4
    # slots 0-3 of every level now hold that level's new keys, 4-7 untouched
    assert not torch.allclose(model.queue[:, :, :4], before[:, :, :4])
    torch.testing.assert_close(model.queue[:, :, 4:], before[:, :, 4:])
    torch.testing.assert_close(
        model.queue[:, :, :4].norm(dim=1), torch.ones(4, 4))
    assert not torch.allclose(model.queue[0, :, :4], model.queue[3, :, :4])
    model.loss(*random_batch(n=4, seed=1))
    assert int(model.queue_ptr) == 0  # wrapped around
    assert not torch.allclose(model.queue[:, :, 4:], before[:, :, 4:])


def test_keys_use_gt_boxes_and_queries_augmented_boxes(monkeypatch):
    model = tiny_insloc('fpn', queue_len=8)
    seen = []
    real = model.extract_roi_feats

    def spy(img, boxes, encoder=None):
        seen.append((encoder is None, [b.clone() for b in boxes]))
        return real(img, boxes, encoder)

    monkeypatch.setattr(model, 'extract_roi_feats', spy)
    imgs, samples = random_batch(n=4)
    model.shuffle_bn = False  # keep the key order to compare boxes
    model.loss(imgs, samples)
    gt = torch.stack([torch.as_tensor(s.gt_bboxes) for s in samples])
    (q_side, q_boxes), (k_side, k_boxes) = seen
    assert q_side and not k_side
    for lvl in range(3):  # fine levels: the GT box
        torch.testing.assert_close(q_boxes[lvl], gt[:, 0])
    assert not torch.allclose(q_boxes[3], gt[:, 0])  # coarsest: augmented
    assert (bbox_overlaps(q_boxes[3], gt[:, 0], is_aligned=True) > 0.5).all()
    for lvl in range(4):
        torch.testing.assert_close(k_boxes[lvl], gt[:, 1])


def test_augmented_boxes_overlap_gt_above_half():
    torch.manual_seed(0)
    aug = AnchorBoxAugment()
    # boxes as InsLocComposite pastes them: long side in [128, 255),
    # aspect ratio in [0.5, 2]
    long_side = torch.randint(128, 255, (200, 1)).float()
    aspect = torch.exp(torch.empty(200, 1).uniform_(-0.69, 0.69))
    wh = torch.cat([long_side, long_side], dim=1)
    wh[aspect[:, 0] > 1, 1] /= aspect[aspect[:, 0] > 1, 0]
    wh[aspect[:, 0] <= 1, 0] *= aspect[aspect[:, 0] <= 1, 0]
    xy = torch.rand(200, 2) * (256 - wh)
    gt = torch.cat([xy, xy + wh], dim=1)
    out = aug(gt, (256, 256))
    ious = bbox_overlaps(out, gt, is_aligned=True)
    assert (ious > 0.5).all()
    assert not torch.allclose(out, gt)
    # random: a second draw differs, and boxes are spread out
    assert not torch.allclose(aug(gt, (256, 256)), out)
    # a tiny box has no anchor above 0.5: the best anchors are used
    tiny_gt = torch.tensor([[100., 100., 104., 104.]])
    best = bbox_overlaps(tiny_gt, aug.anchors((256, 256), 'cpu')).max()
    assert best < 0.5
    tiny = aug(tiny_gt, (256, 256))
    assert bbox_overlaps(tiny, tiny_gt).item() > 0.5 * best
    assert 'scales=(2, 4, 8, 16)' in repr(aug)
    with pytest.raises(ValueError, match='pos_iou_thr'):
        AnchorBoxAugment(pos_iou_thr=1.5)


@pytest.mark.slow
def test_overfit_eight_images_lowers_loss(tmp_path):
    # 8 noisy single-colour images, composited once into two fixed batches of
    # 4 that alternate; a queue of 4 then holds the other batch's keys only
    rng = np.random.RandomState(0)
    root = tmp_path / 'images'
    root.mkdir()
    for i in range(8):
        arr = rng.randint(0, 256, 3) + rng.randint(-20, 20, (64, 64, 3))
        Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).save(
            root / f'img{i}.png')
    dataset = DATASETS.build(
        dict(
            type='InsLocDataset',
            data_root=str(root),
            with_label=False,
            pipeline=[
                dict(type='LoadImageFromFile'),
                dict(type='InsLocComposite', bg_size=64,
                     paste_size_range=(32, 63)),
                dict(type='MultiViewWithBoxes',
                     transforms=[[dict(type='RandomFlip', prob=0.5)]]),
                dict(type='PackInputs', algorithm_keys=['gt_bboxes']),
            ]))
    np.random.seed(0)
    torch.manual_seed(0)
    batches = [
        default_collate([dataset[i] for i in range(j, j + 4)])
        for j in (0, 4)
    ]
    model = tiny_insloc('c4', queue_len=4, data_preprocessor=dict(
        type='SelfSupDataPreprocessor', mean=[128.] * 3, std=[64.] * 3))
    optim = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    losses = []
    for it in range(20):
        data = model.data_preprocessor(batches[it % 2], True)
        loss = model(**data, mode='loss')['loss']
        optim.zero_grad()
        loss.backward()
        optim.step()
        losses.append(loss.item())
    # step 0 sees the random initial queue; compare steps 1-3 to the end
    start, end = np.mean(losses[1:4]), np.mean(losses[-3:])
    assert end < 0.75 * start, losses


def test_checkpoint_keys_follow_mmpretrain_and_mmdet():
    keys = set(tiny_insloc('fpn').state_dict())
    for key in ['backbone.conv1.weight', 'backbone.bn1.weight',
                'backbone.layer4.1.conv2.weight',
                'neck.lateral_convs.3.conv.weight',
                'neck.fpn_convs.0.conv.weight',
                'box_head.convs.3.conv.weight', 'box_head.convs.0.bn.weight',
                'box_head.fcs.0.weight', 'box_head.fcs.1.weight',
                'box_head.fc_out.weight', 'encoder_k.module.0.conv1.weight',
                'encoder_k.module.2.fcs.0.weight', 'queue', 'queue_ptr']:
        assert key in keys, key
    keys = set(tiny_insloc('c4').state_dict())
    assert {'neck.mlp.0.weight', 'neck.mlp.2.weight',
            'backbone.layer4.0.conv1.weight'} <= keys


def test_errors():
    with pytest.raises(ValueError, match='roi_strides'):
        tiny_insloc('c4', roi_strides=(4, 8))
    with pytest.raises(ValueError, match='bbox_aug_levels'):
        tiny_insloc('fpn', bbox_aug_levels=(4, ))
    imgs, samples = random_batch(n=3)
    with pytest.raises(ValueError, match='queue_len'):
        tiny_insloc('c4', queue_len=8).loss(imgs, samples)
    with pytest.raises(ValueError, match="algorithm_keys=\\['gt_bboxes'\\]"):
        tiny_insloc('c4').loss(imgs, [DataSample() for _ in range(3)])


@pytest.mark.slow
@pytest.mark.parametrize(
    'name', ['insloc_r50-c4', 'insloc_r50-fpn', 'insloc_tobias_r50-c4'])
def test_config_trains_two_iterations_on_cpu(name, pretrain_images, tmp_path, work_dir):
    from mmengine.runner import Runner

    # the hook (Tobias) writes the masks the composites paste from
    mask_file = str(tmp_path / 'masks.tmask')
    cfg = shrink_config(Config.fromfile(osp.join(REPO, 'configs', f'{name}.py')),
                        data_root=pretrain_images, mask_file=mask_file, width=8,
                        work_dir=work_dir)
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 2
    assert int(runner.model.queue_ptr) == 4
    assert osp.isfile(osp.join(work_dir, 'epoch_1.pth'))
    if 'tobias' in name:
        assert osp.isfile(mask_file)
