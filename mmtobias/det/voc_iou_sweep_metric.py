# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""Pascal-VOC-style mAP at many IoU thresholds (AP50, COCO-style AP, AP75, AP-vs-IoU)."""
from collections import OrderedDict

import numpy as np
from mmdet.evaluation import VOCMetric
from mmdet.registry import METRICS
from mmengine.logging import MMLogger

CURVE_IOU_THRS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
COCO_IOU_THRS = tuple(round(0.5 + 0.05 * i, 2) for i in range(10))


def voc_average_precision(recall, precision, eval_mode='11points'):
    """AP of one precision/recall curve (detections sorted by score).

    ``'11points'``: the VOC2007 metric, mean of the best precision at recall >= 0, 0.1,
    ..., 1. ``'area'``: VOC2010+, the area under the monotone precision envelope.
    """
    if eval_mode == '11points':
        return float(np.mean([precision[recall >= t].max() if (recall >= t).any() else 0.
                              for t in np.linspace(0, 1, 11)]))
    rec = np.concatenate([[0.], recall, [1.]])
    prec = np.concatenate([[0.], precision, [0.]])
    prec = np.maximum.accumulate(prec[::-1])[::-1]  # envelope: best precision to the right
    steps = np.nonzero(rec[1:] != rec[:-1])[0]
    return float(np.sum((rec[steps + 1] - rec[steps]) * prec[steps + 1]))


def _box_iou(a, b, extra):
    # a: N x 4, b: M x 4 (x1, y1, x2, y2) -> N x M
    area_a = (a[:, 2] - a[:, 0] + extra) * (a[:, 3] - a[:, 1] + extra)
    area_b = (b[:, 2] - b[:, 0] + extra) * (b[:, 3] - b[:, 1] + extra)
    w = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    h = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    inter = np.clip(w + extra, 0, None) * np.clip(h + extra, 0, None)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, np.finfo(float).eps)


def class_ap_across_iou(dets, gts, gts_ignore, iou_thrs, eval_mode, extra):
    """AP of one class at each IoU threshold; None when the class has no ground truth.

    VOC devkit matching: in score order, a detection takes the ground truth it overlaps
    most; above the threshold it is a true positive if that box is still free, ignored if
    the box is ``difficult``, a false positive otherwise (also when below the threshold).
    The best-overlap match does not depend on the threshold, so it is computed once.
    """
    num_gts = sum(len(g) for g in gts)
    if num_gts == 0:
        return None
    scores, best_iou, best_gt, on_ignored = [], [], [], []
    offset = 0
    for d, g, gi in zip(dets, gts, gts_ignore):
        if len(d):
            boxes = np.concatenate([g, gi]) if len(gi) else g
            if len(boxes):
                ious = _box_iou(d[:, :4], boxes, extra)
                j = ious.argmax(1)
                best_iou.append(ious[np.arange(len(d)), j])
            else:
                j = np.zeros(len(d), dtype=int)
                best_iou.append(np.zeros(len(d)))
            scores.append(d[:, 4])
            best_gt.append(j + offset)
            on_ignored.append(j >= len(g))
        offset += len(g) + len(gi)
    if not scores:
        return [0.] * len(iou_thrs)
    order = np.argsort(-np.concatenate(scores), kind='stable')
    best_iou = np.concatenate(best_iou)[order]
    best_gt = np.concatenate(best_gt)[order]
    on_ignored = np.concatenate(on_ignored)[order]
    aps = []
    for thr in iou_thrs:
        hit = best_iou > thr  # the devkit's strict `ovmax > ovthresh`
        counted = ~(hit & on_ignored)
        tp = np.zeros(len(order))
        cand = np.nonzero(hit & ~on_ignored)[0]
        first = np.unique(best_gt[cand], return_index=True)[1]  # first claim of a box wins
        tp[cand[first]] = 1
        fp = counted & (tp == 0)
        tp_cum, fp_cum = np.cumsum(tp), np.cumsum(fp)
        recall = tp_cum / num_gts
        precision = tp_cum / np.maximum(tp_cum + fp_cum, np.finfo(float).eps)
        aps.append(voc_average_precision(recall, precision, eval_mode))
    return aps


@METRICS.register_module()
class VOCIoUSweepMetric(VOCMetric):
    """Pascal VOC mAP at IoU 0.1 ... 0.9 plus AP50, AP75 and COCO-style AP.

    The detection-transfer protocol of MoCo / Tobias / InsLoc reports AP50, AP (mean
    over IoU 0.50:0.05:0.95) and AP75 with VOC matching; the analysis of detection
    pretraining plots mAP against IoU 0.1 ... 0.9. One pass computes all of them.

    Reported keys (fractions in [0, 1], like mmdet's ``VOCMetric``): ``mAP`` (the mean
    over ``ap_iou_thrs``, i.e. COCO-style AP), ``AP50``, ``AP75`` and ``AP10`` ... ``AP90``
    for ``curve_iou_thrs``. Inherits ``process`` from mmdet's ``VOCMetric``
    (``difficult`` boxes are ignored). Use it in place of ``VOCMetric``::

        val_evaluator = dict(type='VOCIoUSweepMetric', eval_mode='11points')

    Args:
        curve_iou_thrs (Sequence[float]): IoU thresholds of the AP-vs-IoU curve.
            Defaults to 0.1, 0.2, ..., 0.9.
        ap_iou_thrs (Sequence[float]): thresholds averaged into ``mAP``.
            Defaults to 0.50, 0.55, ..., 0.95.
        eval_mode (str): ``'11points'`` (VOC2007) or ``'area'`` (VOC2010+).
            Defaults to ``'11points'``.
        legacy_coordinate (bool): VOC's inclusive pixel boxes (width = x2 - x1 + 1), as
            mmdet's ``VOCMetric``. Defaults to True.
        collect_device (str): ``'cpu'`` or ``'gpu'``. Defaults to ``'cpu'``.
        prefix (str, optional): key prefix. Defaults to ``'pascal_voc'``.
    """
    default_prefix = 'pascal_voc'

    def __init__(self, curve_iou_thrs=CURVE_IOU_THRS, ap_iou_thrs=COCO_IOU_THRS,
                 eval_mode='11points', legacy_coordinate=True, collect_device='cpu',
                 prefix=None):
        if eval_mode not in ('11points', 'area'):
            raise ValueError(f"eval_mode={eval_mode!r} is not supported; use '11points' "
                             "(VOC2007) or 'area' (VOC2010+) in the evaluator config")
        for name, thrs in (('curve_iou_thrs', curve_iou_thrs), ('ap_iou_thrs', ap_iou_thrs)):
            if not thrs or any(not 0 < t < 1 for t in thrs):
                raise ValueError(f'{name}={thrs!r} must be a non-empty list of IoU '
                                 'thresholds in (0, 1)')
        super().__init__(iou_thrs=list(ap_iou_thrs), metric='mAP', eval_mode=eval_mode,
                         collect_device=collect_device, prefix=prefix)
        self.curve_iou_thrs = tuple(float(t) for t in curve_iou_thrs)
        self.ap_iou_thrs = tuple(float(t) for t in ap_iou_thrs)
        self.legacy_coordinate = legacy_coordinate

    @staticmethod
    def calculate(preds, gts, iou_thrs, eval_mode='11points', legacy_coordinate=True):
        """mAP at each IoU threshold.

        Args:
            preds (list[list[ndarray]]): per image, per class, ``K x 5`` arrays
                ``(x1, y1, x2, y2, score)``.
            gts (list[dict]): per image ``bboxes`` (N x 4), ``labels`` (N,) and
                optionally ``bboxes_ignore`` / ``labels_ignore`` (difficult boxes).
            iou_thrs (Sequence[float]): the thresholds.
            eval_mode (str): ``'11points'`` or ``'area'``. Defaults to ``'11points'``.
            legacy_coordinate (bool): boxes are inclusive pixel ranges. Defaults to True.

        Returns:
            tuple[ndarray, ndarray]: mAP per threshold (T,), averaged over the classes
            that have ground truth, and AP per threshold and class (T x C, NaN for classes
            without ground truth).
        """
        if len(preds) != len(gts):
            raise ValueError(f'got {len(preds)} predictions for {len(gts)} images')
        num_classes = len(preds[0]) if preds else 0
        extra = 1. if legacy_coordinate else 0.
        empty = np.zeros((0, 4))
        per_class = np.full((len(iou_thrs), num_classes), np.nan)
        for c in range(num_classes):
            dets = [np.asarray(p[c], dtype=float).reshape(-1, 5) for p in preds]
            g = [np.asarray(x['bboxes'], float).reshape(-1, 4)[np.asarray(x['labels']) == c]
                 for x in gts]
            gi = [np.asarray(x['bboxes_ignore'], float).reshape(-1, 4)[
                np.asarray(x['labels_ignore']) == c] if 'bboxes_ignore' in x else empty
                for x in gts]
            aps = class_ap_across_iou(dets, g, gi, iou_thrs, eval_mode, extra)
            if aps is not None:
                per_class[:, c] = aps
        valid = ~np.isnan(per_class[0]) if num_classes else np.zeros(0, bool)
        mean = per_class[:, valid].mean(1) if valid.any() else np.zeros(len(iou_thrs))
        return mean, per_class

    def compute_metrics(self, results):
        logger = MMLogger.get_current_instance()
        gts, preds = zip(*results)
        thrs = sorted(set(self.curve_iou_thrs) | set(self.ap_iou_thrs))
        mean, _ = self.calculate(preds, gts, thrs, self.eval_mode, self.legacy_coordinate)
        by_thr = dict(zip(thrs, mean.tolist()))
        out = OrderedDict()
        out['mAP'] = round(float(np.mean([by_thr[t] for t in self.ap_iou_thrs])), 4)
        for t in (0.5, 0.75):
            if t in by_thr:
                out[f'AP{round(t * 100)}'] = round(by_thr[t], 4)
        for t in self.curve_iou_thrs:
            out[f'AP{round(t * 100)}'] = round(by_thr[t], 4)
        logger.info('mAP vs IoU: ' + ' '.join(f'{t:.2f}:{100 * v:.1f}'
                                              for t, v in by_thr.items()))
        return out
