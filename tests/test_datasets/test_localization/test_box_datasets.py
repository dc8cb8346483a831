# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
import json
import os
import os.path as osp
from unittest import mock

import numpy as np
import pytest
from mmengine.logging import MMLogger
from mmpretrain.registry import DATASETS, TRANSFORMS
from PIL import Image

import mmtobias  # noqa: F401

XML = """<annotation><filename>{fn}</filename>
<size><width>{w}</width><height>{h}</height><depth>3</depth></size>
{objs}</annotation>"""
OBJ = ('<object><name>{n}</name><difficult>{d}</difficult><bndbox>'
       '<xmin>{b[0]}</xmin><ymin>{b[1]}</ymin><xmax>{b[2]}</xmax>'
       '<ymax>{b[3]}</ymax></bndbox></object>')


def write_img(path, w=40, h=30, fmt='JPEG'):
    os.makedirs(osp.dirname(path), exist_ok=True)
    rng = np.random.RandomState(0)
    Image.fromarray(rng.randint(0, 255, (h, w, 3), np.uint8)).save(path, fmt)


def write_xml(path, fn, objs, w=40, h=30):
    os.makedirs(osp.dirname(path), exist_ok=True)
    body = ''.join(OBJ.format(n=n, b=b, d=d) for n, b, d in objs)
    with open(path, 'w') as f:
        f.write(XML.format(fn=fn, w=w, h=h, objs=body))


def test_xml_folder_pair(tmp_path):
    root = str(tmp_path)
    write_img(f'{root}/images/a.jpg')
    write_img(f'{root}/images/b.PNG', fmt='PNG')
    write_xml(f'{root}/annots/a.xml', 'a.jpg',
              [('dog', (1, 1, 10, 20), 0), ('cat', (5, 5, 40, 30), 1)])
    write_xml(f'{root}/annots/b.xml', 'b.png', [('cat', (2, 3, 4, 5), 0)])
    write_xml(f'{root}/annots/orphan.xml', 'x.jpg', [('cat', (2, 3, 4, 5),
                                                      0)])
    ds = DATASETS.build(dict(type='XMLFolderBoxDataset', data_root=root,
                             data_prefix=dict(img_path='images',
                                              ann_path='annots')))
    assert len(ds) == 2  # orphan.xml skipped with a warning
    assert ds.metainfo['classes'] == ('cat', 'dog')  # inferred, sorted
    a = ds.get_data_info(0)
    assert a['img_path'].endswith('a.jpg')
    # VOC 1-based inclusive -> continuous 0-based
    np.testing.assert_array_equal(a['gt_bboxes'], [[0, 0, 10, 20],
                                                   [4, 4, 40, 30]])
    np.testing.assert_array_equal(a['gt_bboxes_labels'], [1, 0])
    assert ds.get_data_info(1)['img_path'].endswith('b.PNG')
    hard = DATASETS.build(dict(type='XMLFolderBoxDataset', data_root=root,
                               skip_difficult=True,
                               data_prefix=dict(img_path='images',
                                                ann_path='annots')))
    assert len(hard.get_data_info(0)['gt_bboxes']) == 1
    with pytest.raises(ValueError, match="class 'dog' is not in"):
        DATASETS.build(dict(type='XMLFolderBoxDataset', data_root=root,
                            metainfo=dict(classes=['cat']),
                            data_prefix=dict(img_path='images',
                                             ann_path='annots')))
    with pytest.raises(FileNotFoundError, match='annotation directory'):
        DATASETS.build(dict(type='XMLFolderBoxDataset', data_root=root,
                            data_prefix=dict(img_path='images',
                                             ann_path='nope')))


def test_imagenet_val_class_folders(tmp_path):
    root = str(tmp_path)
    write_img(f'{root}/val/n01/ILSVRC2012_val_00000001.JPEG')
    write_img(f'{root}/val/n02/ILSVRC2012_val_00000002.JPEG')
    write_xml(f'{root}/val_boxes/ILSVRC2012_val_00000001.xml',
              'ILSVRC2012_val_00000001', [('n01', (1, 1, 20, 20), 0)])
    write_xml(f'{root}/val_boxes/ILSVRC2012_val_00000002.xml',
              'ILSVRC2012_val_00000002', [('n02', (3, 3, 9, 9), 0),
                                          ('n02', (5, 5, 30, 25), 0)])
    ds = DATASETS.build(dict(type='ImageNetBoxDataset', data_root=root))
    assert len(ds) == 2 and ds.metainfo['classes'] == ('n01', 'n02')
    info = ds.get_data_info(1)
    assert info['img_path'].endswith('n02/ILSVRC2012_val_00000002.JPEG')
    assert info['gt_bboxes'].shape == (2, 4)


def test_voc_layout(tmp_path):
    root = str(tmp_path / 'VOC2007')
    for i, objs in (('000001', [('dog', (1, 1, 10, 10), 0)]),
                    ('000002', [('person', (1, 1, 5, 5), 1)])):
        write_img(f'{root}/JPEGImages/{i}.jpg')
        write_xml(f'{root}/Annotations/{i}.xml', f'{i}.jpg', objs)
    os.makedirs(f'{root}/ImageSets/Main')
    with open(f'{root}/ImageSets/Main/test.txt', 'w') as f:
        f.write('000001\n000002\n')
    ds = DATASETS.build(dict(type='VOCBoxDataset', data_root=root))
    assert len(ds) == 1  # 000002 has only a difficult box
    assert ds.metainfo['classes'][11] == 'dog'
    np.testing.assert_array_equal(ds.get_data_info(0)['gt_bboxes_labels'],
                                  [11])
    with pytest.raises(FileNotFoundError, match='val.txt'):
        DATASETS.build(dict(type='VOCBoxDataset', data_root=root,
                            ann_file='ImageSets/Main/val.txt'))


def test_cub_txt_files(tmp_path):
    root = str(tmp_path / 'CUB_200_2011')
    os.makedirs(root)
    files = {
        'images.txt': '1 001.Albatross/a.jpg\n2 002.Auklet/b.jpg\n',
        'bounding_boxes.txt': '1 2.0 3.0 10.0 20.0\n2 0.0 0.0 5.0 5.0\n',
        'image_class_labels.txt': '1 1\n2 2\n',
        'classes.txt': '1 001.Albatross\n2 002.Auklet\n',
        'train_test_split.txt': '1 0\n2 1\n',
    }
    for name, text in files.items():
        with open(osp.join(root, name), 'w') as f:
            f.write(text)
    test = DATASETS.build(dict(type='CUBBoxDataset', data_root=root))
    assert len(test) == 1
    info = test.get_data_info(0)
    assert info['img_path'] == osp.join(root, 'images', '001.Albatross/a.jpg')
    np.testing.assert_array_equal(info['gt_bboxes'], [[2, 3, 12, 23]])
    assert test.metainfo['classes'] == ('001.Albatross', '002.Auklet')
    train = DATASETS.build(dict(type='CUBBoxDataset', data_root=root,
                                split='train'))
    assert train.get_data_info(0)['gt_bboxes_labels'][0] == 1
    assert len(DATASETS.build(dict(type='CUBBoxDataset', data_root=root,
                                   split='all'))) == 2
    with pytest.raises(ValueError, match="split='val'"):
        DATASETS.build(dict(type='CUBBoxDataset', data_root=root,
                            split='val'))


def test_coco_json(tmp_path):
    ann = dict(
        images=[dict(id=1, file_name='a.jpg', width=40, height=30),
                dict(id=2, file_name='b.jpg', width=40, height=30)],
        annotations=[
            dict(id=1, image_id=1, category_id=3, bbox=[1, 2, 10, 5],
                 iscrowd=0),
            dict(id=2, image_id=1, category_id=1, bbox=[0, 0, 4, 4],
                 iscrowd=0),
            dict(id=3, image_id=2, category_id=1, bbox=[0, 0, 4, 4],
                 iscrowd=1)],
        categories=[dict(id=3, name='zebra'), dict(id=1, name='ant')])
    path = str(tmp_path / 'ann.json')
    with open(path, 'w') as f:
        json.dump(ann, f)
    ds = DATASETS.build(dict(type='COCOBoxDataset', ann_file=path,
                             data_prefix=dict(img_path=str(tmp_path))))
    assert len(ds) == 1  # image 2 has only a crowd box
    assert ds.metainfo['classes'] == ('ant', 'zebra')
    info = ds.get_data_info(0)
    np.testing.assert_array_equal(info['gt_bboxes'], [[1, 2, 11, 7],
                                                      [0, 0, 4, 4]])
    np.testing.assert_array_equal(info['gt_bboxes_labels'], [1, 0])


def test_safe_load_flags_truncated_and_unreadable_files(tmp_path):
    good = str(tmp_path / 'good.jpg')
    write_img(good, w=64, h=48)
    data = open(good, 'rb').read()
    trunc = str(tmp_path / 'trunc.jpg')
    with open(trunc, 'wb') as f:
        f.write(data[:len(data) * 2 // 3])
    junk = str(tmp_path / 'junk.jpg')
    with open(junk, 'wb') as f:
        f.write(b'not an image')
    load = TRANSFORMS.build(dict(type='SafeLoadImageFromFile'))
    assert 'SafeLoadImageFromFile(fallback_size=(224, 224)' in repr(load)
    ok = load(dict(img_path=good))
    assert ok['img_valid'] and ok['img'].shape == (48, 64, 3)
    np.testing.assert_array_equal(
        ok['img'][..., ::-1], np.asarray(Image.open(good).convert('RGB')))
    logger = MMLogger.get_current_instance()
    with mock.patch.object(logger, 'warning') as warn:
        bad = load(dict(img_path=trunc))
    assert trunc in warn.call_args[0][0]
    assert 'img_valid=False' in warn.call_args[0][0]
    assert not bad['img_valid'] and bad['img'].shape == (48, 64, 3)
    placeholder = load(dict(img_path=junk, width=20, height=10))
    assert not placeholder['img_valid']
    assert placeholder['img'].shape == (10, 20, 3)
