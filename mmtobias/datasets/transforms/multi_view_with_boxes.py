# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""Per-view augmentation of ready-made views that keeps each view's box."""
import copy
from typing import List, Union

import numpy as np
from mmcv.transforms import BaseTransform, Compose

from mmpretrain.registry import TRANSFORMS

__all__ = ['MultiViewWithBoxes']


@TRANSFORMS.register_module()
class MultiViewWithBoxes(BaseTransform):
    """Run a pipeline on each of several views and keep every view's box.

    mmpretrain's ``MultiView`` makes views from one image and keeps only
    ``img``. This wrapper takes views that already exist (``img`` a list, e.g.
    from :class:`InsLocComposite`) with one box per view, runs a pipeline on
    each view independently (its own random draws), and collects both the
    images and the boxes, so that ``PackInputs(algorithm_keys=['gt_bboxes'])``
    packs them. Inside the pipeline a view looks like a one-box detection
    sample (``img``, ``img_shape``, ``gt_bboxes`` of shape 1 x 4), so
    box-aware spatial transforms such as mmcv's ``RandomFlip`` and ``Resize``
    move the box with the image. Transforms that change the image geometry
    without updating ``gt_bboxes`` (e.g. mmpretrain's ``RandomResizedCrop``)
    would leave a wrong box and must not be used here.

    **Required Keys:**

    - img (list of arrays, one per view)
    - gt_bboxes (``num_views`` x 4)

    **Modified Keys:**

    - img
    - gt_bboxes (np.float32, ``num_views`` x 4)

    Args:
        transforms (list[list[dict | callable]]): One pipeline shared by all
            views, or one pipeline per view (view ``i`` uses pipeline ``i``).
    """

    def __init__(self, transforms: List[List[Union[dict, callable]]]) -> None:
        if (not isinstance(transforms, (list, tuple)) or not transforms
                or not all(isinstance(t, (list, tuple)) for t in transforms)):
            raise TypeError('`transforms` must be a non-empty list of '
                            'pipelines (each a list of transforms), e.g. '
                            f'[view_pipeline]; got {transforms!r}.')
        self.pipelines = [Compose(t) for t in transforms]

    def transform(self, results: dict) -> dict:
        imgs, boxes = results['img'], np.asarray(results['gt_bboxes'])
        if not isinstance(imgs, (list, tuple)):
            raise TypeError('MultiViewWithBoxes expects `img` to be a list of '
                            'views (put InsLocComposite before it), got '
                            f'{type(imgs).__name__}.')
        if boxes.shape != (len(imgs), 4):
            raise ValueError(f'MultiViewWithBoxes expects one box per view, '
                             f'{len(imgs)} x 4, got gt_bboxes of shape '
                             f'{boxes.shape}.')
        pipelines = self.pipelines
        if len(pipelines) == 1:
            pipelines = pipelines * len(imgs)
        elif len(pipelines) != len(imgs):
            raise ValueError(f'{len(pipelines)} pipelines for {len(imgs)} '
                             'views: give one shared pipeline or one per '
                             'view.')

        common = {
            k: v
            for k, v in results.items() if k not in ('img', 'gt_bboxes')
        }
        out_imgs, out_boxes = [], []
        for img, box, pipeline in zip(imgs, boxes, pipelines):
            view = copy.deepcopy(common)
            view.update(
                img=img,
                img_shape=img.shape[:2],
                gt_bboxes=box[None].astype(np.float32))
            view = pipeline(view)
            out_imgs.append(view['img'])
            out_boxes.append(np.asarray(view['gt_bboxes']).reshape(4))
        results['img'] = out_imgs
        results['gt_bboxes'] = np.stack(out_boxes).astype(np.float32)
        return results

    def __repr__(self) -> str:
        repr_str = self.__class__.__name__ + '('
        for i, p in enumerate(self.pipelines):
            repr_str += f'\nPipeline {i + 1}:\n{p}'
        return repr_str + ')'
