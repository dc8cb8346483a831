# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""COCO evaluation plus mAP at IoU 0.1 ... 0.9 (the AP-vs-IoU curve)."""
import os.path as osp
import tempfile

import numpy as np
from mmdet.datasets.api_wrappers import COCOeval
from mmdet.evaluation import CocoMetric
from mmdet.registry import METRICS
from mmengine.fileio import load
from mmengine.logging import MMLogger

from .voc_iou_sweep_metric import CURVE_IOU_THRS


def precision_to_curve(precision):
    """mAP per IoU threshold from ``COCOeval.eval['precision']`` (T x R x K x A x M).

    Uses area range 'all' and the last max-detections setting, as COCO's headline AP;
    classes without ground truth (precision -1) are left out of the mean.
    """
    curve = []
    for t in range(precision.shape[0]):
        p = precision[t, :, :, 0, -1]
        p = p[p > -1]
        curve.append(float(p.mean()) if p.size else 0.)
    return curve


@METRICS.register_module()
class CocoIoUSweepMetric(CocoMetric):
    """mmdet's ``CocoMetric`` that also reports mAP at IoU 0.1, 0.2, ..., 0.9.

    The standard COCO numbers (``bbox_mAP``, ``bbox_mAP_50``, ``bbox_mAP_75``, ...) are
    computed exactly as by ``CocoMetric``; a second COCOeval over ``curve_iou_thrs`` adds
    ``{metric}_mAP_10`` ... ``{metric}_mAP_90`` (fractions) for ``bbox`` and ``segm``.
    Use it in place of ``CocoMetric``::

        val_evaluator = dict(type='CocoIoUSweepMetric', ann_file=..., metric=['bbox'])

    Args:
        curve_iou_thrs (Sequence[float]): thresholds of the curve.
            Defaults to 0.1, 0.2, ..., 0.9.
        **kwargs: the arguments of mmdet's ``CocoMetric``.
    """

    def __init__(self, curve_iou_thrs=CURVE_IOU_THRS, **kwargs):
        if not curve_iou_thrs or any(not 0 < t < 1 for t in curve_iou_thrs):
            raise ValueError(f'curve_iou_thrs={curve_iou_thrs!r} must be a non-empty list of '
                             'IoU thresholds in (0, 1)')
        super().__init__(**kwargs)
        self.curve_iou_thrs = tuple(float(t) for t in curve_iou_thrs)

    def compute_metrics(self, results):
        logger = MMLogger.get_current_instance()
        with tempfile.TemporaryDirectory() as tmp:
            # keep the result files of the standard evaluation for the curve
            own_prefix = self.outfile_prefix
            prefix = own_prefix or osp.join(tmp, 'results')
            self.outfile_prefix = prefix
            try:
                out = super().compute_metrics(results)
            finally:
                self.outfile_prefix = own_prefix
            if self.format_only:
                return out
            for metric in self.metrics:
                if metric not in ('bbox', 'segm') or not osp.isfile(f'{prefix}.{metric}.json'):
                    continue
                predictions = load(f'{prefix}.{metric}.json')
                if not predictions:
                    continue
                if metric == 'segm':
                    for x in predictions:  # mask areas, as CocoMetric does
                        x.pop('bbox', None)
                curve = self.evaluate_curve(self._coco_api, predictions, metric,
                                            self.cat_ids, self.img_ids,
                                            list(self.proposal_nums), self.curve_iou_thrs)
                for t, v in zip(self.curve_iou_thrs, curve):
                    # bbox_mAP_50 is already there from the standard evaluation
                    out.setdefault(f'{metric}_mAP_{round(t * 100)}', round(v, 4))
                logger.info(f'{metric} mAP vs IoU: ' + ' '.join(
                    f'{t:.2f}:{100 * v:.1f}' for t, v in zip(self.curve_iou_thrs, curve)))
        return out

    @staticmethod
    def evaluate_curve(coco_gt, predictions, iou_type, cat_ids, img_ids, max_dets, iou_thrs):
        """Run COCOeval at ``iou_thrs`` and return the mAP at each threshold."""
        coco_dt = coco_gt.loadRes(predictions)
        coco_eval = COCOeval(coco_gt, coco_dt, iou_type)
        coco_eval.params.catIds = cat_ids
        coco_eval.params.imgIds = img_ids
        coco_eval.params.maxDets = max_dets
        coco_eval.params.iouThrs = np.array(iou_thrs)
        coco_eval.evaluate()
        coco_eval.accumulate()
        return precision_to_curve(coco_eval.eval['precision'])
