# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""An image folder with a parallel folder of VOC-style XML files, and the
ImageNet validation set with its box XMLs (the same layout)."""
import os
import os.path as osp
from typing import List

from mmengine.logging import MMLogger
from mmpretrain.registry import DATASETS

from .base_box_dataset import BaseBoxDataset, index_images, parse_voc_xml

__all__ = ['XMLFolderBoxDataset', 'ImageNetBoxDataset']


@DATASETS.register_module()
class XMLFolderBoxDataset(BaseBoxDataset):
    """Images in ``data_prefix.img_path`` and VOC-style XML files in
    ``data_prefix.ann_path`` (the two may be the same folder), matched by
    relative path stem (``a/b.xml`` <-> ``a/b.jpg`` with any image
    extension), else by bare stem, else by the XML's ``<filename>``. XML
    files without an image are skipped with a warning naming them.

    Args:
        data_root (str): Prefix of both folders. Defaults to ''.
        data_prefix (dict): ``img_path`` and ``ann_path`` folders.
            Defaults to ``dict(img_path='images', ann_path='annotations')``.
        one_based (bool): XML coordinates are 1-based inclusive pixel
            indices (VOC convention). Defaults to True.
        skip_difficult (bool): Drop ``<difficult>1</difficult>`` boxes.
            Defaults to False.
        **kwargs: Other :class:`mmengine.dataset.BaseDataset` arguments
            (``metainfo=dict(classes=...)``, ``pipeline``, ...).
    """

    def __init__(self,
                 data_root: str = '',
                 data_prefix: dict = None,
                 one_based: bool = True,
                 skip_difficult: bool = False,
                 **kwargs):
        if data_prefix is None:
            data_prefix = dict(img_path='images', ann_path='annotations')
        if 'ann_path' not in data_prefix or 'img_path' not in data_prefix:
            raise ValueError(f'data_prefix={data_prefix!r} needs both '
                             f'"img_path" and "ann_path".')
        self.one_based, self.skip_difficult = one_based, skip_difficult
        super().__init__(data_root=data_root, data_prefix=data_prefix,
                         **kwargs)

    def _xml_files(self, ann_dir: str) -> List[str]:
        if not osp.isdir(ann_dir):
            raise FileNotFoundError(
                f'annotation directory {ann_dir} does not exist; check '
                f'data_root / data_prefix.ann_path.')
        files = []
        for root, _, names in os.walk(ann_dir, followlinks=True):
            files += [osp.join(root, n) for n in names
                      if n.lower().endswith('.xml')]
        return sorted(files)

    def load_records(self) -> List[dict]:
        img_dir = self.data_prefix['img_path']
        ann_dir = self.data_prefix['ann_path']
        images = index_images(img_dir)
        records, orphans = [], []
        for xml in self._xml_files(ann_dir):
            rel = osp.splitext(osp.relpath(xml, ann_dir))[0].replace(os.sep,
                                                                     '/')
            ann = parse_voc_xml(xml, self.one_based)
            img = (images.get(rel) or images.get(osp.basename(rel))
                   or images.get(osp.splitext(ann['filename'])[0]))
            if img is None:
                orphans.append(xml)
                continue
            objs = [o for o in ann['objects']
                    if not (self.skip_difficult and o['difficult'])]
            records.append(dict(
                img_path=img, ann_path=xml,
                boxes=[o['bbox'] for o in objs],
                names=[o['name'] for o in objs],
                width=ann['width'], height=ann['height']))
        if orphans:
            MMLogger.get_current_instance().warning(
                f'{type(self).__name__}: {len(orphans)} annotation file(s) '
                f'have no image in {img_dir}, skipped: {orphans[:5]}')
        return records


@DATASETS.register_module()
class ImageNetBoxDataset(XMLFolderBoxDataset):
    """ImageNet (ILSVRC) validation images with the official box XMLs.

    The images may be flat (``val/ILSVRC2012_val_00000001.JPEG``) or in
    class folders (``val/n01440764/ILSVRC2012_val_00000293.JPEG``); the XML
    files (``ILSVRC2012_val_00000001.xml``, object names are WordNet ids)
    live in ``data_prefix.ann_path``. Give ``metainfo=dict(classes=...)``
    with all 1000 wnids to fix the label order; otherwise the sorted wnids
    found are used (CorLoc is averaged over them either way).

    Args:
        data_root (str): Defaults to ''.
        data_prefix (dict): Defaults to
            ``dict(img_path='val', ann_path='val_boxes')``.
        **kwargs: See :class:`XMLFolderBoxDataset`.
    """

    def __init__(self, data_root: str = '', data_prefix: dict = None,
                 **kwargs):
        if data_prefix is None:
            data_prefix = dict(img_path='val', ann_path='val_boxes')
        super().__init__(data_root=data_root, data_prefix=data_prefix,
                         **kwargs)
