# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
import numpy as np
import pytest
import torch
from mmdet.registry import METRICS
from mmdet.structures import DetDataSample
from mmengine.structures import InstanceData

import mmtobias  # noqa: F401
from mmtobias.det.voc_iou_sweep_metric import VOCIoUSweepMetric, voc_average_precision


def _gt(boxes, labels, ignore=(), ignore_labels=()):
    return dict(bboxes=np.array(boxes, float).reshape(-1, 4), labels=np.array(labels),
                bboxes_ignore=np.array(ignore, float).reshape(-1, 4),
                labels_ignore=np.array(ignore_labels, int))


def _dets(*per_class):
    return [np.array(d, float).reshape(-1, 5) for d in per_class]


def test_exact_detections_score_one_at_every_iou():
    gts = [_gt([[10, 10, 50, 50]], [0]), _gt([[20, 20, 80, 60]], [1])]
    preds = [_dets([[10, 10, 50, 50, .9]], []), _dets([], [[20, 20, 80, 60, .8]])]
    mean, per_class = VOCIoUSweepMetric.calculate(preds, gts, [0.1, 0.5, 0.9, 0.95])
    np.testing.assert_allclose(mean, 1.)
    assert per_class.shape == (4, 2)


def test_shifted_box_counts_only_below_its_iou():
    # a 40x40 box shifted by 10 px: IoU = 30*40 / (2*1600 - 1200) = 0.6 (no legacy +1)
    gts = [_gt([[0, 0, 40, 40]], [0])]
    preds = [_dets([[10, 0, 50, 40, .9]])]
    mean, _ = VOCIoUSweepMetric.calculate(
        preds, gts, [0.1, 0.5, 0.59, 0.61, 0.9], legacy_coordinate=False)
    np.testing.assert_allclose(mean, [1, 1, 1, 0, 0])


def test_duplicate_is_false_positive_and_lowers_precision():
    gts = [_gt([[0, 0, 40, 40], [100, 100, 140, 140]], [0, 0])]
    # ranked: hit, duplicate of the same box (FP), hit on the second box
    preds = [_dets([[0, 0, 40, 40, .9], [1, 1, 40, 40, .8], [100, 100, 140, 140, .7]])]
    mean, _ = VOCIoUSweepMetric.calculate(preds, gts, [0.5], eval_mode='area')
    # recall 0.5 at precision 1, recall 1 at precision 2/3
    np.testing.assert_allclose(mean, [0.5 * 1 + 0.5 * 2 / 3])


def test_difficult_match_is_ignored_and_classes_without_gt_are_skipped():
    gts = [_gt([[0, 0, 40, 40]], [0], ignore=[[60, 60, 99, 99]], ignore_labels=[0])]
    preds = [_dets([[60, 60, 99, 99, .95], [0, 0, 40, 40, .5]], [[0, 0, 9, 9, .9]])]
    mean, per_class = VOCIoUSweepMetric.calculate(preds, gts, [0.5])
    assert per_class[0, 0] == pytest.approx(1.)  # the difficult hit is neither TP nor FP
    assert np.isnan(per_class[0, 1])  # class 1 has no ground truth: left out of the mean
    assert mean[0] == pytest.approx(1.)


def test_eleven_point_and_area_ap():
    recall = np.array([0.5, 0.5, 1.0])
    precision = np.array([1.0, 0.5, 2 / 3])
    assert voc_average_precision(recall, precision, '11points') == pytest.approx(
        (6 * 1 + 5 * 2 / 3) / 11)
    assert voc_average_precision(recall, precision, 'area') == pytest.approx(
        0.5 + 0.5 * 2 / 3)


def _sample(gt_boxes, pred_boxes, scores):
    s = DetDataSample()
    s.gt_instances = InstanceData(bboxes=torch.tensor(gt_boxes, dtype=torch.float32),
                                  labels=torch.zeros(len(gt_boxes), dtype=torch.long))
    s.ignored_instances = InstanceData(bboxes=torch.zeros(0, 4),
                                       labels=torch.zeros(0, dtype=torch.long))
    s.pred_instances = InstanceData(bboxes=torch.tensor(pred_boxes, dtype=torch.float32),
                                    scores=torch.tensor(scores),
                                    labels=torch.zeros(len(pred_boxes), dtype=torch.long))
    return s.to_dict()


def test_metric_reports_ap_ap50_ap75_and_the_curve_through_the_registry():
    metric = METRICS.build(dict(type='VOCIoUSweepMetric', eval_mode='area'))
    metric.dataset_meta = dict(classes=('kangaroo', ))
    # IoU (legacy +1) of the prediction with the box: 41*31 / (41*41) = 0.756
    metric.process({}, [_sample([[0, 0, 40, 40]], [[0, 10, 40, 40]], [0.9])])
    out = metric.evaluate(1)
    assert out['pascal_voc/AP50'] == 1 and out['pascal_voc/AP75'] == 1
    assert out['pascal_voc/AP70'] == 1 and out['pascal_voc/AP80'] == 0
    # AP over .50:.95: thresholds .50 ... .75 pass (6 of 10)
    assert out['pascal_voc/mAP'] == pytest.approx(0.6)
    assert {f'pascal_voc/AP{t}' for t in range(10, 100, 10)} <= set(out)


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match='eval_mode'):
        VOCIoUSweepMetric(eval_mode='12points')
    with pytest.raises(ValueError, match='curve_iou_thrs'):
        VOCIoUSweepMetric(curve_iou_thrs=[0.1, 1.5])
