# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""CUB-200-2011 with its bounding boxes (the dataset's own txt files)."""
import os.path as osp
from typing import Dict, List

from mmpretrain.registry import DATASETS

from .base_box_dataset import BaseBoxDataset

__all__ = ['CUBBoxDataset']


@DATASETS.register_module()
class CUBBoxDataset(BaseBoxDataset):
    """CUB-200-2011: ``images.txt``, ``bounding_boxes.txt`` (``id x y w h``),
    ``image_class_labels.txt``, ``classes.txt`` and ``train_test_split.txt``
    in ``data_root``; images under ``data_root/images``.

    Args:
        data_root (str): e.g. ``'data/CUB_200_2011'``.
        split (str): 'test' (5,794 images, the usual localization set),
            'train' or 'all'. Defaults to 'test'.
        data_prefix (dict): Defaults to ``dict(img_path='images')``.
        **kwargs: Other BaseDataset arguments.
    """

    def __init__(self, data_root: str = '', split: str = 'test',
                 data_prefix: dict = None, **kwargs):
        if split not in ('train', 'test', 'all'):
            raise ValueError(f'split={split!r} must be "train", "test" or '
                             f'"all".')
        self.split = split
        super().__init__(data_root=data_root,
                         data_prefix=data_prefix or dict(img_path='images'),
                         **kwargs)

    def _table(self, name: str) -> Dict[str, List[str]]:
        path = osp.join(self.data_root, name)
        if not osp.isfile(path):
            raise FileNotFoundError(f'CUB file {path} does not exist; '
                                    f'data_root must be the CUB_200_2011 '
                                    f'folder.')
        table = {}
        with open(path) as f:
            for line_no, line in enumerate(f, 1):
                parts = line.split()
                if not parts:
                    continue
                if len(parts) < 2:
                    raise ValueError(f'{path}:{line_no}: expected "<id> ...",'
                                     f' got {line.strip()!r}.')
                table[parts[0]] = parts[1:]
        return table

    def load_records(self) -> List[dict]:
        images = self._table('images.txt')
        boxes = self._table('bounding_boxes.txt')
        labels = self._table('image_class_labels.txt')
        class_names = self._table('classes.txt')
        split = (self._table('train_test_split.txt')
                 if self.split != 'all' else {})
        if self._metainfo.get('classes') is None:
            self._metainfo['classes'] = tuple(
                class_names[k][0] for k in sorted(class_names, key=int))
        names = self._metainfo['classes']
        want = {'train': '1', 'test': '0'}.get(self.split)
        records = []
        for img_id in sorted(images, key=int):
            if want is not None and split.get(img_id, [None])[0] != want:
                continue
            if img_id not in boxes or img_id not in labels:
                raise ValueError(f'CUB image id {img_id} has no box or label '
                                 f'in {self.data_root}.')
            x, y, w, h = (float(v) for v in boxes[img_id][:4])
            records.append(dict(
                img_path=osp.join(self.data_prefix['img_path'],
                                  images[img_id][0]),
                boxes=[[x, y, x + w, y + h]],
                names=[names[int(labels[img_id][0]) - 1]]))
        return records
