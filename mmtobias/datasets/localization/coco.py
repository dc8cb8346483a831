# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""COCO-format json (instances_*.json) with boxes."""
import json
import os.path as osp
from typing import List

from mmpretrain.registry import DATASETS

from .base_box_dataset import BaseBoxDataset

__all__ = ['COCOBoxDataset']


@DATASETS.register_module()
class COCOBoxDataset(BaseBoxDataset):
    """Any COCO-format detection json: ``images``, ``annotations`` (``bbox``
    as ``[x, y, w, h]``) and ``categories``. Crowd boxes are skipped, and so
    are images left without boxes. Classes are the category names in id
    order unless ``metainfo=dict(classes=...)`` is given.

    Args:
        data_root (str): Defaults to ''.
        ann_file (str): e.g. ``'annotations/instances_val2017.json'``.
        data_prefix (dict): Defaults to ``dict(img_path='val2017')``.
        skip_crowd (bool): Defaults to True.
        **kwargs: Other BaseDataset arguments.
    """

    def __init__(self, data_root: str = '', ann_file: str = '',
                 data_prefix: dict = None, skip_crowd: bool = True, **kwargs):
        self.skip_crowd = skip_crowd
        super().__init__(data_root=data_root, ann_file=ann_file,
                         data_prefix=data_prefix or dict(img_path='val2017'),
                         **kwargs)

    def load_records(self) -> List[dict]:
        if not osp.isfile(self.ann_file):
            raise FileNotFoundError(f'COCO annotation file {self.ann_file} '
                                    f'does not exist; check ann_file.')
        with open(self.ann_file) as f:
            coco = json.load(f)
        for key in ('images', 'annotations', 'categories'):
            if key not in coco:
                raise ValueError(f'{self.ann_file} is not a COCO detection '
                                 f'json: no "{key}" list.')
        cats = {c['id']: c['name']
                for c in sorted(coco['categories'], key=lambda c: c['id'])}
        if self._metainfo.get('classes') is None:
            self._metainfo['classes'] = tuple(cats.values())
        per_image = {img['id']: [] for img in coco['images']}
        for ann in coco['annotations']:
            if self.skip_crowd and ann.get('iscrowd', 0):
                continue
            x, y, w, h = ann['bbox']
            if w <= 0 or h <= 0:
                continue
            per_image.setdefault(ann['image_id'], []).append(
                ([x, y, x + w, y + h], cats[ann['category_id']]))
        records = []
        for img in coco['images']:
            objs = per_image.get(img['id'], [])
            records.append(dict(
                img_path=osp.join(self.data_prefix['img_path'],
                                  img['file_name']),
                boxes=[b for b, _ in objs], names=[n for _, n in objs],
                width=img.get('width', 0), height=img.get('height', 0)))
        return records
