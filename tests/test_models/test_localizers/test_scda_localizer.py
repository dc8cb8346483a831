# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
import numpy as np
import pytest
import torch
from mmengine.runner.checkpoint import load_state_dict
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import mmtobias  # noqa: F401
from mmtobias.models.localizers import (binarize_map, draw_scda_overlay,
                                        largest_component, mask_to_box,
                                        scda_box)

TINY = dict(type='SCDAResNet', depth=18, stage_blocks=(1, 1, 1, 1))


def test_largest_component_uses_8_connectivity():
    mask = np.zeros((6, 6), bool)
    mask[0, 0] = mask[1, 1] = mask[2, 2] = True  # diagonal chain of 3
    mask[5, 3] = mask[5, 4] = True               # horizontal pair
    eight = largest_component(mask, 8)
    assert eight.sum() == 3 and eight[1, 1]
    four = largest_component(mask, 4)
    assert four.sum() == 2 and four[5, 3] and four[5, 4]


def test_mean_threshold_is_strict_and_constant_map_is_empty():
    amap = np.array([[1., 1.], [1., 5.]])
    np.testing.assert_array_equal(binarize_map(amap), [[0, 0], [0, 1]])
    assert not binarize_map(np.ones((3, 3))).any()
    top = binarize_map(np.arange(16.).reshape(4, 4), 'topk', 0.5)
    assert top.sum() == 8 and top[3].all()
    med = binarize_map(np.arange(16.).reshape(4, 4), 'median')
    assert med.sum() == 8


def test_empty_mask_gives_whole_image():
    box, mask, fallback = scda_box(np.ones((14, 14)), (224, 200))
    assert fallback and not mask.any()
    np.testing.assert_array_equal(box, [0, 0, 200, 224])


def test_nearest_upsampled_box_covers_whole_cells():
    mask = np.zeros((14, 14), bool)
    mask[2:5, 3:6] = True
    np.testing.assert_array_equal(mask_to_box(mask, (224, 224)),
                                  [48, 32, 96, 80])
    # bilinear keeps > 0.5 of the interpolated mask: same box on a 16x grid
    bil = mask_to_box(mask, (224, 224), 'bilinear')
    assert abs(bil - np.array([48, 32, 96, 80])).max() <= 8


def test_scda_box_keeps_largest_component_only():
    amap = np.zeros((14, 14))
    amap[1:4, 1:4] = 10   # 9 cells
    amap[10, 10] = 10     # 1 isolated cell
    box, _, fb = scda_box(amap, (224, 224))
    assert not fb
    np.testing.assert_array_equal(box, [16, 16, 64, 64])
    box_all, _, _ = scda_box(amap, (224, 224), connectivity=None)
    np.testing.assert_array_equal(box_all, [16, 16, 176, 176])


def _samples(n, shape=(64, 64)):
    return [DataSample(metainfo=dict(img_shape=shape, scale_factor=(0.5,
                                                                    0.25)))
            for _ in range(n)]


def test_localizer_predicts_one_box_per_seed():
    model = MODELS.build(dict(type='SCDALocalizer', backbone=TINY,
                              seeds=[0, 1, 2]))
    assert len(model.backbones) == 3
    inputs = torch.rand(2, 3, 64, 64)
    out = model.predict(inputs, _samples(2))
    assert out[0].pred_bboxes.shape == (3, 4)
    assert out[0].scda_maps.shape == (3, 4, 4)   # stride-1 layer4: /16
    assert out[0].pred_masks.dtype == torch.bool
    box = out[0].pred_bboxes[0]
    assert 0 <= box[0] < box[2] <= 64 and 0 <= box[1] < box[3] <= 64
    np.testing.assert_allclose(out[0].pred_bboxes_ori[0],
                               box / torch.tensor([0.5, 0.25, 0.5, 0.25]))
    # seeds differ, and the maps match a single backbone built with seed 1
    single = MODELS.build(dict(type='SCDALocalizer',
                               backbone=dict(TINY, seed=1)))
    torch.testing.assert_close(single(inputs)[:, 0], model(inputs)[:, 1])
    assert not torch.equal(model(inputs)[:, 0], model(inputs)[:, 1])


def test_localizer_modes_and_errors():
    model = MODELS.build(dict(type='SCDALocalizer', backbone=TINY))
    with pytest.raises(NotImplementedError, match='evaluation-only'):
        model(torch.rand(1, 3, 32, 32), mode='loss')
    with pytest.raises(ValueError, match="threshold='max'"):
        MODELS.build(dict(type='SCDALocalizer', backbone=TINY,
                          threshold='max'))
    with pytest.raises(ValueError, match="upsample='bicubic'"):
        MODELS.build(dict(type='SCDALocalizer', backbone=TINY,
                          upsample='bicubic'))
    with pytest.raises(ValueError, match='model.seeds=None'):
        MODELS.build(dict(type='SCDALocalizer',
                          backbone=dict(TINY, checkpoint='x.pth'),
                          seeds=[0, 1]))


def test_checkpoint_backbone_keys_load_into_every_seed():
    src = MODELS.build(dict(TINY, seed=9))
    state = {f'backbone.{k}': v for k, v in src.state_dict().items()}
    state['neck.mlp.weight'] = torch.zeros(1)
    model = MODELS.build(dict(type='SCDALocalizer', backbone=TINY,
                              seeds=[0, 1]))
    # what Runner.load_checkpoint does with tools/test.py CONFIG CKPT
    load_state_dict(model, state, strict=False)
    for bb in model.backbones:
        assert torch.equal(bb.conv1.weight, src.conv1.weight)


def test_overlay_png(tmp_path):
    img = np.full((40, 60, 3), 128, np.uint8)
    out_file = str(tmp_path / 'vis' / 'a.png')
    out = draw_scda_overlay(img, np.random.RandomState(0).rand(4, 4),
                            np.array([5, 5, 30, 30]),
                            np.array([[10, 10, 50, 35]]), out_file)
    assert out.shape == (40, 60, 3)
    assert (tmp_path / 'vis' / 'a.png').exists()
    assert tuple(out[5, 15]) == (255, 0, 0)   # red predicted box edge
