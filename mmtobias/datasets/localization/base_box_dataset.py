# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""Common base of the datasets with boxes used for SCDA CorLoc."""
import os
import os.path as osp
import xml.etree.ElementTree as ET
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.dataset import BaseDataset
from mmengine.logging import MMLogger

__all__ = ['BaseBoxDataset', 'parse_voc_xml', 'index_images', 'IMG_EXTENSIONS']

from mmtobias.utils.image_files import IMG_EXTENSIONS


def parse_voc_xml(path: str, one_based: bool = True) -> dict:
    """Read a Pascal-VOC-style XML file (also ImageNet's box XMLs).

    Returns ``dict(filename, width, height, objects)`` where each object is
    ``dict(name, bbox, difficult)`` and ``bbox`` is ``[x1, y1, x2, y2]`` in
    continuous 0-based pixels: with ``one_based`` (VOC: inclusive 1-based
    pixel indices) ``[xmin - 1, ymin - 1, xmax, ymax]``, otherwise
    ``[xmin, ymin, xmax, ymax]``.
    """
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as err:
        raise ValueError(
            f'cannot parse annotation file {path}: {err}') from err

    def num(node, key, default=None):
        child = node.find(key)
        if child is None or child.text is None or not child.text.strip():
            if default is not None:
                return default
            raise ValueError(f'annotation file {path}: missing <{key}>.')
        return float(child.text)

    size = root.find('size')
    width = int(num(size, 'width', 0)) if size is not None else 0
    height = int(num(size, 'height', 0)) if size is not None else 0
    objects = []
    for obj in root.findall('object'):
        name = (obj.findtext('name') or '').strip()
        box = obj.find('bndbox')
        if box is None:
            continue
        x1, y1, x2, y2 = (num(box, k)
                          for k in ('xmin', 'ymin', 'xmax', 'ymax'))
        if one_based:
            x1, y1 = x1 - 1, y1 - 1
        objects.append(dict(
            name=name, bbox=[max(x1, 0.0), max(y1, 0.0), x2, y2],
            difficult=int(num(obj, 'difficult', 0.0))))
    return dict(filename=(root.findtext('filename') or '').strip(),
                width=width, height=height, objects=objects)


def index_images(img_dir: str) -> Dict[str, str]:
    """Map ``relative/path/stem`` (and bare ``stem``) to image files under
    ``img_dir`` (recursive; extensions matched case-insensitively)."""
    if not osp.isdir(img_dir):
        raise FileNotFoundError(f'image directory {img_dir} does not exist; '
                                f'check data_root / data_prefix.img_path.')
    index, bare = {}, {}
    for root, _, files in os.walk(img_dir, followlinks=True):
        for f in sorted(files):
            stem, ext = osp.splitext(f)
            if ext.lower() not in IMG_EXTENSIONS:
                continue
            full = osp.join(root, f)
            rel = osp.relpath(osp.join(root, stem), img_dir).replace(os.sep,
                                                                     '/')
            index.setdefault(rel, full)
            bare.setdefault(stem, full)
    for stem, full in bare.items():
        index.setdefault(stem, full)
    return index


class BaseBoxDataset(BaseDataset):
    """Images with class-labelled boxes, one data info per image:
    ``img_path``, ``gt_bboxes`` (K x 4 float32, ``[x1, y1, x2, y2]`` in
    original pixels), ``gt_bboxes_labels`` (K int64), ``width``, ``height``.

    Classes come from ``metainfo=dict(classes=[...])`` (or the class's
    ``METAINFO``); when None they are the sorted set of names found in the
    annotations. Subclasses implement :meth:`load_records` returning dicts
    with ``img_path``, ``boxes`` (K x 4), ``names`` (K str), ``width``,
    ``height``; images without any box are skipped with one warning.
    """
    METAINFO = dict(classes=None)

    def __init__(self, *args, test_mode: bool = True, **kwargs):
        super().__init__(*args, test_mode=test_mode, **kwargs)

    def load_records(self) -> List[dict]:
        raise NotImplementedError

    def load_data_list(self) -> List[dict]:
        records = self.load_records()
        classes: Optional[Sequence[str]] = self._metainfo.get('classes')
        if classes is None:
            classes = sorted({n for r in records for n in r['names']})
        classes = tuple(classes)
        self._metainfo['classes'] = classes
        cls_index = {c: i for i, c in enumerate(classes)}
        data_list, empty = [], []
        for r in records:
            unknown = [n for n in r['names'] if n not in cls_index]
            if unknown:
                raise ValueError(
                    f'{r.get("ann_path", r["img_path"])}: class {unknown[0]!r}'
                    f' is not in the dataset classes ({len(classes)}: '
                    f'{list(classes)[:5]}...); pass metainfo=dict(classes='
                    f'[...]) with every class name, or None to infer them.')
            if not len(r['names']):
                empty.append(r['img_path'])
                continue
            data_list.append(dict(
                img_path=r['img_path'],
                gt_bboxes=np.asarray(r['boxes'], np.float32).reshape(-1, 4),
                gt_bboxes_labels=np.array([cls_index[n] for n in r['names']],
                                          np.int64),
                width=int(r.get('width') or 0),
                height=int(r.get('height') or 0)))
        if empty:
            MMLogger.get_current_instance().warning(
                f'{type(self).__name__}: skipped {len(empty)} image(s) with '
                f'no usable box, e.g. {empty[:3]}')
        if not data_list:
            raise ValueError(f'{type(self).__name__}: no image with boxes '
                             f'found (data_root={self.data_root!r}, '
                             f'data_prefix={self.data_prefix}).')
        return data_list
