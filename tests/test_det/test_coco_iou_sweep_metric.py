# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
import numpy as np
import pytest
import torch
from mmdet.registry import METRICS

import mmtobias  # noqa: F401
from mmtobias.det.coco_iou_sweep_metric import CocoIoUSweepMetric, precision_to_curve


def _sample(img_id, gt_boxes, pred_boxes, scores):
    return dict(
        img_id=img_id, ori_shape=(100, 100),
        instances=[dict(bbox=b, bbox_label=0, ignore_flag=0) for b in gt_boxes],
        pred_instances=dict(bboxes=torch.tensor(pred_boxes, dtype=torch.float32),
                            scores=torch.tensor(scores),
                            labels=torch.zeros(len(pred_boxes), dtype=torch.long)))


def test_curve_keys_follow_the_overlap_of_hand_made_detections(tmp_path):
    metric = METRICS.build(dict(type='CocoIoUSweepMetric', metric='bbox'))
    metric.dataset_meta = dict(classes=('kangaroo', ))
    # image 0: exact hit; image 1: a 40x40 box shifted by 10 px (IoU 0.6)
    metric.process({}, [_sample(0, [[0, 0, 40, 40]], [[0, 0, 40, 40]], [0.9]),
                        _sample(1, [[0, 0, 40, 40]], [[10, 0, 50, 40]], [0.8])])
    out = metric.evaluate(2)
    # below 0.6 both match (AP 1); above it only the higher-scored one (AP ~0.5)
    for t in (10, 30, 50):
        assert out[f'coco/bbox_mAP_{t}'] == pytest.approx(1.)
    for t in (70, 90):
        assert out[f'coco/bbox_mAP_{t}'] == pytest.approx(0.5, abs=0.01)
    # standard COCO AP over .50:.95: 1 up to .60 (COCO matches IoU >= thr), ~.5 after
    assert out['coco/bbox_mAP_75'] == pytest.approx(0.5, abs=0.01)
    assert out['coco/bbox_mAP'] == pytest.approx((3 * 1 + 7 * 0.5) / 10, abs=0.01)


def test_precision_to_curve_skips_missing_classes():
    precision = -np.ones((2, 101, 2, 4, 3))
    precision[0, :, 0, 0, -1] = 0.5
    precision[1, :, 0, 0, -1] = 1.0
    assert precision_to_curve(precision) == [0.5, 1.0]


def test_bad_curve_thresholds_raise():
    with pytest.raises(ValueError, match='curve_iou_thrs'):
        CocoIoUSweepMetric(curve_iou_thrs=[])
