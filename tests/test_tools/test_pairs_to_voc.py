# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
import importlib.util
import os
import os.path as osp

import numpy as np
import pytest
from PIL import Image

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _load_tool():
    path = osp.join(ROOT, 'tools', 'dataset_converters', 'pairs_to_voc.py')
    spec = importlib.util.spec_from_file_location('pairs_to_voc', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


pairs_to_voc = _load_tool()


def write_xml(path, objects, size=(64, 48)):
    objs = ''.join(
        f'<object><name>{n}</name><difficult>0</difficult><bndbox><xmin>{b[0]}</xmin>'
        f'<ymin>{b[1]}</ymin><xmax>{b[2]}</xmax><ymax>{b[3]}</ymax></bndbox></object>'
        for n, b in objects)
    with open(path, 'w') as f:
        f.write(f'<annotation><size><width>{size[0]}</width><height>{size[1]}</height>'
                f'</size>{objs}</annotation>')


def make_pairs(root, n=10, names=('wombat', 'emu'), seed=0):
    """``root/images/*.jpg`` + ``root/annots/*.xml``: a box of class i % len(names)."""
    rng = np.random.default_rng(seed)
    os.makedirs(osp.join(root, 'images'))
    os.makedirs(osp.join(root, 'annots'))
    for i in range(n):
        img = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
        Image.fromarray(img).save(osp.join(root, 'images', f'{i:05d}.jpg'))
        write_xml(osp.join(root, 'annots', f'{i:05d}.xml'),
                  [(names[i % len(names)], (5, 6, 40 + i, 30))])


def _lines(path):
    with open(path) as f:
        return f.read().split()


def test_pairs_layout_gives_seeded_voc_split(tmp_path):
    make_pairs(str(tmp_path / 'src'))
    out = str(tmp_path / 'voc')
    summary = pairs_to_voc.main([str(tmp_path / 'src'), out, '--test-ratio', '0.3',
                                 '--seed', '1'])
    assert summary['classes'] == ['emu', 'wombat'] == _lines(osp.join(out, 'classes.txt'))
    trainval = _lines(osp.join(out, 'ImageSets', 'Main', 'trainval.txt'))
    test = _lines(osp.join(out, 'ImageSets', 'Main', 'test.txt'))
    assert len(test) == 3 and len(trainval) == 7 and not set(test) & set(trainval)
    assert osp.islink(osp.join(out, 'JPEGImages', f'{test[0]}.jpg'))
    # same seed, same split; another seed, another split
    again = pairs_to_voc.convert(str(tmp_path / 'src'), str(tmp_path / 'voc2'), 0.3, seed=1)
    assert _lines(osp.join(tmp_path, 'voc2', 'ImageSets', 'Main', 'test.txt')) == test
    assert again['test'] == 3
    pairs_to_voc.convert(str(tmp_path / 'src'), str(tmp_path / 'voc3'), 0.3, seed=2)
    assert _lines(osp.join(tmp_path, 'voc3', 'ImageSets', 'Main', 'test.txt')) != test


def test_split_folders_with_upper_case_endings_keep_their_split(tmp_path):
    src = tmp_path / 'cards'
    for part, ids in (('train', ('IMG_1', 'IMG_2', 'IMG_3')), ('test', ('IMG_4', ))):
        os.makedirs(src / part)
        for k, stem in enumerate(ids):
            ext = '.JPG' if k % 2 == 0 else '.jpg'
            Image.new('RGB', (64, 48), (k * 40, 0, 0)).save(str(src / part / (stem + ext)),
                                                            format='JPEG')
            write_xml(str(src / part / f'{stem}.xml'), [('ace', (1, 1, 20, 20))])
    out = str(tmp_path / 'voc')
    summary = pairs_to_voc.convert(str(src), out)
    assert (summary['trainval'], summary['test']) == (3, 1)
    assert _lines(osp.join(out, 'ImageSets', 'Main', 'test.txt')) == ['IMG_4']
    assert osp.isfile(osp.join(out, 'JPEGImages', 'IMG_1.jpg'))  # from IMG_1.JPG
    resplit = pairs_to_voc.convert(str(src), str(tmp_path / 'voc2'), 0.5, resplit=True)
    assert resplit['test'] == 2


def test_truncated_image_is_skipped_with_a_warning_naming_it(tmp_path):
    make_pairs(str(tmp_path / 'src'), n=4)
    bad = tmp_path / 'src' / 'images' / '00002.jpg'
    data = bad.read_bytes()
    bad.write_bytes(data[:len(data) // 2])
    with pytest.warns(UserWarning, match='00002.jpg'):
        summary = pairs_to_voc.convert(str(tmp_path / 'src'), str(tmp_path / 'voc'), 0.25)
    assert summary['images'] == 3 and summary['skipped'] == [str(bad)]


def test_boxes_are_clipped_and_exif_rotated_jpegs_reencoded(tmp_path):
    src = tmp_path / 'src'
    os.makedirs(src)
    exif = Image.Exif()
    exif[274] = 6  # rotate 90 on display
    for stem in ('a', 'b'):
        Image.new('RGB', (64, 48)).save(str(src / f'{stem}.jpg'), exif=exif)
        write_xml(str(src / f'{stem}.xml'), [('x', (-5, 3, 80, 40)), ('x', (70, 1, 90, 9))])
    with pytest.warns(UserWarning, match='empty inside'):
        summary = pairs_to_voc.convert(str(src), str(tmp_path / 'voc'), 0.5)
    assert summary['reencoded'] == 2
    out_img = tmp_path / 'voc' / 'JPEGImages' / 'a.jpg'
    assert not osp.islink(out_img)
    with Image.open(out_img) as img:
        assert img.size == (64, 48) and img.getexif().get(274) is None
    objs = pairs_to_voc.read_objects(str(tmp_path / 'voc' / 'Annotations' / 'a.xml'))
    assert objs == [('x', 0, 0, [1., 3., 64., 40.])]


def test_errors(tmp_path):
    with pytest.raises(ValueError, match='not a directory'):
        pairs_to_voc.convert(str(tmp_path / 'nope'), str(tmp_path / 'o'))
    os.makedirs(tmp_path / 'empty')
    with pytest.raises(ValueError, match='no image/XML pairs'):
        pairs_to_voc.convert(str(tmp_path / 'empty'), str(tmp_path / 'o'))
    with pytest.raises(ValueError, match='test_ratio'):
        pairs_to_voc.split_ids(['a', 'b'], 1.5, 0)


def test_shared_kangaroo_set_converts_without_losing_good_images(tmp_path, shared_data):
    with pytest.warns(UserWarning, match='00090.jpg'):
        summary = pairs_to_voc.convert(osp.join(shared_data, 'kangaroo'), str(tmp_path / 'k'))
    assert summary['images'] == 163 and summary['classes'] == ['kangaroo']
