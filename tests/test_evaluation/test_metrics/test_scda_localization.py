# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
import numpy as np
import pytest
import torch
from mmpretrain.registry import METRICS
from mmpretrain.structures import DataSample

import mmtobias  # noqa: F401
from mmtobias.evaluation.metrics import SCDALocalization
from mmtobias.evaluation.metrics.scda_localization import box_iou


def test_box_iou_hand_made():
    # 10x10 box vs the same box shifted by 5: inter 50, union 150.
    iou = box_iou([0, 0, 10, 10], [[5, 0, 15, 10], [0, 0, 10, 10],
                                   [20, 20, 30, 30]])
    np.testing.assert_allclose(iou, [1 / 3, 1.0, 0.0])


def test_hit_is_strict_at_exactly_half():
    # pred [0,0,10,10] vs gt [0,0,10,20]: IoU exactly 0.5 -> not a hit.
    out = SCDALocalization.calculate([np.array([0, 0, 10, 10.])],
                                     [np.array([[0, 0, 10, 20.]])])
    assert out['corloc'] == 0.0
    assert out['mean_iou'] == pytest.approx(50.0)
    out = SCDALocalization.calculate([np.array([0, 0, 10, 10.])],
                                     [np.array([[0, 0, 10, 20.]])],
                                     iou_thr=0.49)
    assert out['corloc'] == 100.0


def test_hit_with_any_gt_box():
    pred = [np.array([0, 0, 10, 10.])]
    gt = [np.array([[50, 50, 60, 60], [1, 0, 10, 10.]])]  # 2nd: IoU 0.9
    out = SCDALocalization.calculate(pred, gt)
    assert out['corloc'] == 100.0
    assert out['mean_iou'] == pytest.approx(90.0)


def test_per_class_vs_micro_averaging():
    # class 0: 3 images, 1 hit; class 1: 1 image, 1 hit.
    hit, miss = np.array([0, 0, 10, 10.]), np.array([50, 50, 60, 60.])
    gt_box = np.array([[0, 0, 10, 10.]])
    preds = [hit, miss, miss, hit]
    labels = [np.array([0]), np.array([0]), np.array([0]), np.array([1])]
    out = SCDALocalization.calculate(preds, [gt_box] * 4, labels)
    assert out['corloc_class'] == pytest.approx(100 * (1 / 3 + 1) / 2)
    assert out['corloc_micro'] == pytest.approx(50.0)
    assert out['corloc'] == out['corloc_class']
    micro = SCDALocalization.calculate(preds, [gt_box] * 4, labels,
                                       average='micro')
    assert micro['corloc'] == pytest.approx(50.0)


def test_multi_class_image_counts_per_class():
    # One image with a cat box (hit) and a dog box (miss).
    gt = [np.array([[0, 0, 10, 10], [40, 40, 60, 60.]])]
    out = SCDALocalization.calculate([np.array([0, 0, 10, 10.])], gt,
                                     [np.array([0, 1])])
    assert out['corloc_class'] == pytest.approx(50.0)
    assert out['corloc_micro'] == pytest.approx(100.0)


def test_seeds_mean_and_std_and_whole_image():
    gt = [np.array([[0, 0, 10, 10.]]), np.array([[0, 0, 100, 100.]])]
    # seed 0 hits both, seed 1 hits only the first.
    preds = [np.array([[0, 0, 10, 10], [0, 0, 10, 10.]]),
             np.array([[0, 0, 100, 100], [0, 0, 5, 5.]])]
    out = SCDALocalization.calculate(preds, gt,
                                     img_shapes=[(100, 100), (100, 100)])
    assert out['num_seeds'] == 2
    assert out['corloc'] == pytest.approx(75.0)
    assert out['corloc_std'] == pytest.approx(25.0)  # population std
    assert out['whole_image'] == pytest.approx(50.0)


def test_invalid_image_policies():
    gt = [np.array([[0, 0, 10, 10.]])] * 2
    preds = [np.array([0, 0, 10, 10.])] * 2
    kw = dict(img_shapes=[(10, 10)] * 2, valid=[True, False])
    miss = SCDALocalization.calculate(preds, gt, invalid='miss', **kw)
    assert miss['corloc'] == 50.0 and miss['num_images'] == 2
    assert miss['num_invalid'] == 1
    assert miss['whole_image'] == 100.0  # the baseline needs no pixels
    skip = SCDALocalization.calculate(preds, gt, invalid='skip', **kw)
    assert skip['corloc'] == 100.0 and skip['num_images'] == 1
    ev = SCDALocalization.calculate(preds, gt, **kw)  # default: evaluate
    assert ev['corloc'] == 100.0 and ev['num_images'] == 2


def _sample(pred, gt, valid=True):
    s = DataSample(metainfo=dict(img_shape=(20, 20), img_path='x.jpg'))
    s.set_field(torch.tensor(pred, dtype=torch.float32)[None], 'pred_bboxes')
    s.set_field(np.array(gt, np.float32), 'gt_bboxes')
    s.set_field(np.zeros(len(gt), np.int64), 'gt_bboxes_labels')
    s.set_field(valid, 'img_valid')
    return s


def test_metric_through_registry_process_and_evaluate():
    metric = METRICS.build(dict(type='SCDALocalization'))
    assert metric.prefix == 'scda'
    metric.process(None, [_sample([0, 0, 10, 10], [[0, 0, 10, 10]]),
                          _sample([0, 0, 10, 10], [[10, 10, 20, 20]])])
    res = metric.evaluate(2)
    assert res['scda/corloc'] == pytest.approx(50.0)
    assert res['scda/whole_image'] == pytest.approx(0.0)


def test_metric_errors():
    with pytest.raises(ValueError, match='iou_thr=1.5'):
        SCDALocalization(iou_thr=1.5)
    with pytest.raises(ValueError, match="average='macro'"):
        SCDALocalization(average='macro')
    with pytest.raises(ValueError, match="invalid='drop'"):
        SCDALocalization(invalid='drop')
    metric = SCDALocalization()
    s = DataSample(metainfo=dict(img_shape=(4, 4)))
    s.set_field(torch.zeros(1, 4), 'pred_bboxes')
    with pytest.raises(KeyError, match='gt_bboxes'):
        metric.process(None, [s])
