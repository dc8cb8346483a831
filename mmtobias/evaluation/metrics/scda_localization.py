# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""CorLoc of single-box localizers (the SCDA protocol of the Tobias paper)."""
import os.path as osp
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.dist import is_main_process
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger
from mmpretrain.registry import METRICS

__all__ = ['SCDALocalization', 'box_iou']

INVALID_POLICIES = ('evaluate', 'miss', 'skip')


def box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one ``[x1, y1, x2, y2]`` box with ``K x 4`` boxes (continuous
    coordinates, area = (x2 - x1) * (y2 - y1)). Returns ``K`` values."""
    box = np.asarray(box, dtype=np.float64).reshape(4)
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    iw = np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0])
    ih = np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1])
    inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
    area = max(box[2] - box[0], 0) * max(box[3] - box[1], 0)
    areas = (np.clip(boxes[:, 2] - boxes[:, 0], 0, None) *
             np.clip(boxes[:, 3] - boxes[:, 1], 0, None))
    union = area + areas - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


@METRICS.register_module()
class SCDALocalization(BaseMetric):
    """CorLoc, micro CorLoc and mean IoU of one predicted box per image.

    A prediction is correct for class ``c`` of an image when its IoU with
    some GT box of class ``c`` is **strictly** greater than ``iou_thr``; the
    default score ('class') is the mean over classes of the per-class hit
    rates (an image counts once for each class it contains; for datasets
    with one class per image this is exactly "IoU > 0.5 with any GT box").
    'micro' is the fraction of images whose box hits any GT box. The
    whole-image box is scored on the same images as a baseline.

    With several seeds (``pred_bboxes`` of shape S x 4) every score is
    computed per seed and reported as mean with ``*_std`` (population std,
    ``ddof=0``, over seeds). Scores are percentages.

    Images the pipeline could not decode fully (``img_valid`` False, see
    :class:`mmtobias.datasets.transforms.SafeLoadImageFromFile`) stay in the
    denominator and are scored on the part that decoded, the rest grey (an
    unreadable file gives a blank image, hence the whole-image box) by
    default ('evaluate'); 'miss' counts them as misses with IoU 0, 'skip'
    drops them. Either way they are counted in ``num_invalid`` and named in
    a warning. A data defect is not a localization failure, and a file that
    lost its last bytes (the usual truncation) is almost entirely there.

    Args:
        iou_thr (float): Hit when IoU > iou_thr. Defaults to 0.5.
        average (str): 'class' or 'micro': which one is ``corloc``.
            Defaults to 'class'.
        invalid (str): 'evaluate', 'miss' or 'skip'.
            Defaults to 'evaluate'.
        vis_dir (str, optional): Write heatmap / box overlays of the first
            ``num_vis`` images here (main process). Defaults to None.
        num_vis (int): Defaults to 16.
        collect_device (str): Defaults to 'cpu'.
        prefix (str, optional): Defaults to None ('scda').
    """
    default_prefix = 'scda'

    def __init__(self,
                 iou_thr: float = 0.5,
                 average: str = 'class',
                 invalid: str = 'evaluate',
                 vis_dir: Optional[str] = None,
                 num_vis: int = 16,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        if not 0.0 <= float(iou_thr) < 1.0:
            raise ValueError(f'iou_thr={iou_thr!r} must be in [0, 1) '
                             f'(config field test_evaluator.iou_thr).')
        if average not in ('class', 'micro'):
            raise ValueError(f'average={average!r} must be "class" or '
                             f'"micro" (config field test_evaluator.average).')
        if invalid not in INVALID_POLICIES:
            raise ValueError(f'invalid={invalid!r} must be one of '
                             f'{INVALID_POLICIES} (config field '
                             f'test_evaluator.invalid).')
        self.iou_thr, self.average, self.invalid = (float(iou_thr), average,
                                                    invalid)
        self.vis_dir, self.num_vis = vis_dir, int(num_vis)
        self._num_drawn = 0

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            if hasattr(sample, 'to_dict'):  # a DataSample used directly
                sample = sample.to_dict()
            if 'pred_bboxes' not in sample:
                raise KeyError('SCDALocalization needs "pred_bboxes" in the '
                               'predictions; use model type SCDALocalizer.')
            if 'gt_bboxes' not in sample:
                raise KeyError(
                    'SCDALocalization needs "gt_bboxes" in the data samples: '
                    'add algorithm_keys=("gt_bboxes", "gt_bboxes_labels", '
                    '"img_valid") to PackInputs in the test pipeline.')
            pred = np.asarray(_cpu(sample['pred_bboxes']), np.float32)
            gt = np.asarray(_cpu(sample['gt_bboxes']),
                            np.float32).reshape(-1, 4)
            labels = sample.get('gt_bboxes_labels', None)
            labels = (np.zeros(len(gt), np.int64) if labels is None else
                      np.asarray(_cpu(labels), np.int64).reshape(-1))
            valid = sample.get('img_valid', True)
            result = dict(
                pred_bboxes=pred.reshape(-1, 4), gt_bboxes=gt,
                gt_labels=labels, valid=bool(_cpu(valid)),
                img_shape=tuple(sample['img_shape'][:2]),
                img_path=sample.get('img_path', None))
            self.results.append(result)
            if (self.vis_dir and self._num_drawn < self.num_vis
                    and is_main_process()):
                self._draw(result, np.asarray(_cpu(sample['scda_maps']))[0])
                self._num_drawn += 1

    def _draw(self, result: dict, amap: np.ndarray) -> None:
        from PIL import Image, ImageFile

        from mmtobias.models.localizers import draw_scda_overlay
        path = result['img_path']
        h, w = result['img_shape']
        prev = ImageFile.LOAD_TRUNCATED_IMAGES
        ImageFile.LOAD_TRUNCATED_IMAGES = True  # also draw truncated files
        try:
            img = np.asarray(Image.open(path).convert('RGB').resize(
                (w, h), Image.BILINEAR))
        finally:
            ImageFile.LOAD_TRUNCATED_IMAGES = prev
        name = osp.splitext(osp.basename(path))[0] + '.png'
        draw_scda_overlay(img, amap, result['pred_bboxes'][0],
                          result['gt_bboxes'], osp.join(self.vis_dir, name))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        metrics = self.calculate(
            [r['pred_bboxes'] for r in results],
            [r['gt_bboxes'] for r in results],
            [r['gt_labels'] for r in results],
            img_shapes=[r['img_shape'] for r in results],
            valid=[r['valid'] for r in results],
            iou_thr=self.iou_thr, average=self.average, invalid=self.invalid)
        bad = [r['img_path'] for r in results if not r['valid']]
        if bad:
            MMLogger.get_current_instance().warning(
                f'SCDALocalization: {len(bad)} image(s) could not be decoded '
                f'fully and were counted with invalid="{self.invalid}": '
                f'{bad[:10]}')
        return metrics

    @staticmethod
    def calculate(pred_bboxes: Sequence[np.ndarray],
                  gt_bboxes: Sequence[np.ndarray],
                  gt_labels: Optional[Sequence[np.ndarray]] = None,
                  img_shapes: Optional[Sequence[tuple]] = None,
                  valid: Optional[Sequence[bool]] = None,
                  iou_thr: float = 0.5,
                  average: str = 'class',
                  invalid: str = 'evaluate') -> Dict[str, float]:
        """CorLoc of ``N`` images without an Evaluator.

        Args:
            pred_bboxes: ``N`` arrays of shape ``4`` or ``S x 4`` (S seeds).
            gt_bboxes: ``N`` arrays ``K_i x 4``, same frame as predictions.
            gt_labels: ``N`` arrays ``K_i`` of class indices. None: one
                class. Defaults to None.
            img_shapes: ``N`` ``(H, W)``; enables the whole-image baseline.
            valid: ``N`` bools (False: see ``invalid``). Defaults to all True.
            iou_thr, average, invalid: As in the class arguments.

        Returns:
            dict: ``corloc``, ``corloc_std``, ``corloc_class``,
            ``corloc_micro``, ``mean_iou`` (and ``*_std`` of each),
            ``whole_image`` / ``whole_image_micro`` when ``img_shapes`` is
            given, ``num_images``, ``num_invalid``, ``num_seeds``.
        """
        n = len(pred_bboxes)
        if len(gt_bboxes) != n:
            raise ValueError(f'{n} predictions but {len(gt_bboxes)} GT sets.')
        if invalid not in INVALID_POLICIES:
            raise ValueError(f'invalid={invalid!r} must be one of '
                             f'{INVALID_POLICIES}.')
        if average not in ('class', 'micro'):
            raise ValueError(f'average={average!r} must be class or micro.')
        if gt_labels is None:
            gt_labels = [np.zeros(len(np.reshape(g, (-1, 4))), np.int64)
                         for g in gt_bboxes]
        valid = [True] * n if valid is None else [bool(v) for v in valid]
        keep = [i for i in range(n) if valid[i] or invalid != 'skip']
        preds = [np.asarray(pred_bboxes[i], np.float64).reshape(-1, 4)
                 for i in keep]
        num_seeds = preds[0].shape[0] if preds else 1
        gts = [np.asarray(gt_bboxes[i], np.float64).reshape(-1, 4)
               for i in keep]
        labels = [np.asarray(gt_labels[i], np.int64).reshape(-1) for i in keep]
        forced_miss = [invalid == 'miss' and not valid[i] for i in keep]

        def scores(box_of) -> Dict[str, float]:
            """box_of(j) -> the box of kept image j; returns one seed."""
            class_hits, ious = {}, []
            for j, (gt, lab) in enumerate(zip(gts, labels)):
                iou = (np.zeros(len(gt)) if forced_miss[j] or not len(gt)
                       else box_iou(box_of(j), gt))
                ious.append(iou.max() if len(iou) else 0.0)
                for c in np.unique(lab):
                    hit = bool(np.any(iou[lab == c] > iou_thr))
                    class_hits.setdefault(int(c), []).append(hit)
            per_class = [np.mean(h) for h in class_hits.values()]
            return dict(
                corloc_class=100 * float(np.mean(per_class))
                if per_class else 0.0,
                corloc_micro=100 * float(np.mean(np.array(ious) > iou_thr))
                if ious else 0.0,
                mean_iou=100 * float(np.mean(ious)) if ious else 0.0)

        per_seed = [scores(lambda j, s=s: preds[j][s])
                    for s in range(num_seeds)]
        out = {}
        for key in ('corloc_class', 'corloc_micro', 'mean_iou'):
            vals = np.array([p[key] for p in per_seed])
            out[key], out[key + '_std'] = float(vals.mean()), float(vals.std())
        main = 'corloc_' + average
        out['corloc'], out['corloc_std'] = out[main], out[main + '_std']
        if img_shapes is not None:
            shapes = [img_shapes[i] for i in keep]
            forced_miss = [False] * len(keep)  # needs no pixels
            whole = scores(lambda j: np.array(
                [0, 0, shapes[j][1], shapes[j][0]], np.float64))
            out['whole_image'] = whole['corloc_' + average]
            out['whole_image_micro'] = whole['corloc_micro']
        out.update(num_images=float(len(keep)),
                   num_invalid=float(n - sum(valid)),
                   num_seeds=float(num_seeds))
        return out


def _cpu(x):
    return x.detach().cpu().numpy() if hasattr(x, 'detach') else x
