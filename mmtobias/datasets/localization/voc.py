# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""Pascal VOC (JPEGImages / Annotations / ImageSets/Main) with boxes."""
import os.path as osp
from typing import List

from mmpretrain.registry import DATASETS

from .base_box_dataset import BaseBoxDataset, parse_voc_xml

__all__ = ['VOCBoxDataset']

VOC_CLASSES = ('aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car',
               'cat', 'chair', 'cow', 'diningtable', 'dog', 'horse',
               'motorbike', 'person', 'pottedplant', 'sheep', 'sofa', 'train',
               'tvmonitor')


@DATASETS.register_module()
class VOCBoxDataset(BaseBoxDataset):
    """Pascal VOC: ``data_root/ImageSets/Main/<split>.txt`` lists the image
    ids; boxes from ``Annotations/<id>.xml``, images ``JPEGImages/<id>.jpg``.

    Args:
        data_root (str): e.g. ``'data/VOCdevkit/VOC2007'``.
        ann_file (str): The id list, relative to ``data_root``.
            Defaults to ``'ImageSets/Main/test.txt'``.
        data_prefix (dict): Defaults to
            ``dict(img_path='JPEGImages', ann_path='Annotations')``.
        skip_difficult (bool): Drop difficult boxes (images left without
            boxes are skipped). Defaults to True.
        **kwargs: Other BaseDataset arguments; ``metainfo=dict(classes=...)``
            overrides the 20 VOC classes.
    """
    METAINFO = dict(classes=VOC_CLASSES)

    def __init__(self,
                 data_root: str = '',
                 ann_file: str = 'ImageSets/Main/test.txt',
                 data_prefix: dict = None,
                 skip_difficult: bool = True,
                 **kwargs):
        if data_prefix is None:
            data_prefix = dict(img_path='JPEGImages', ann_path='Annotations')
        self.skip_difficult = skip_difficult
        super().__init__(data_root=data_root, ann_file=ann_file,
                         data_prefix=data_prefix, **kwargs)

    def load_records(self) -> List[dict]:
        if not osp.isfile(self.ann_file):
            raise FileNotFoundError(
                f'VOC image-set file {self.ann_file} does not exist; check '
                f'data_root and ann_file (e.g. ImageSets/Main/test.txt).')
        with open(self.ann_file) as f:
            ids = [line.split()[0] for line in f if line.strip()]
        records = []
        for img_id in ids:
            xml = osp.join(self.data_prefix['ann_path'], img_id + '.xml')
            ann = parse_voc_xml(xml, one_based=True)
            objs = [o for o in ann['objects']
                    if not (self.skip_difficult and o['difficult'])]
            name = ann['filename'] or img_id + '.jpg'
            records.append(dict(
                img_path=osp.join(self.data_prefix['img_path'], name),
                ann_path=xml, boxes=[o['bbox'] for o in objs],
                names=[o['name'] for o in objs], width=ann['width'],
                height=ann['height']))
        return records
