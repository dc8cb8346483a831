# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
import os.path as osp
import pickle
from unittest import mock

import cv2
import numpy as np
import pytest
from PIL import Image

from mmtobias.datasets.transforms import DonorIndex, load_image_at
from mmtobias.datasets.transforms.donor_index import load_first
from mmtobias.datasets.transforms.unreadable_files import (clear_unreadable,
                                                           unreadable_kind)
from mmtobias.scda import write_mask_store


def smooth_image(h, w):
    y, x = np.mgrid[:h, :w]
    return np.stack([x * 255 // w, y * 255 // h, (x + y) * 127 // (w + h)],
                    -1).astype(np.uint8)


@pytest.mark.parametrize('ext', ['.jpg', '.png'])
def test_load_image_at_matches_a_full_decode(tmp_path, ext):
    rgb = smooth_image(600, 900)
    path = str(tmp_path / f'big{ext}')
    Image.fromarray(rgb).save(path, quality=95)
    bgr = load_image_at(path, (224, 160))
    assert bgr.shape == (160, 224, 3) and bgr.dtype == np.uint8
    full = cv2.resize(np.asarray(Image.open(path))[..., ::-1], (224, 160),
                      interpolation=cv2.INTER_AREA)
    assert np.abs(bgr.astype(int) - full).mean() < 2
    rgb_out = load_image_at(path, (224, 160), channel_order='rgb')
    assert np.array_equal(rgb_out, bgr[..., ::-1])
    assert load_image_at(path, (32, 32), gray=True).shape == (32, 32)


def test_load_image_at_raises_on_garbage(tmp_path):
    path = str(tmp_path / 'bad.jpg')
    open(path, 'wb').write(b'garbage')
    with pytest.raises(OSError):
        load_image_at(path, (8, 8))


def test_folder_index_is_lazy_and_pickles_small(tmp_path):
    for rel in ('a/1.jpg', 'a/2.PNG', 'b/c/3.jpeg', 'b/notes.txt'):
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b'x')
    index = DonorIndex.from_folder(str(tmp_path))
    assert index.keys() == ['a/1.jpg', 'a/2.PNG', 'b/c/3.jpeg']
    assert index.path(2) == osp.join(str(tmp_path), 'b/c/3.jpeg')
    clone = pickle.loads(pickle.dumps(index))
    assert clone._keys is None and len(clone) == 3
    np.random.seed(0)
    assert {index.sample() for _ in range(50)} == {0, 1, 2}
    with pytest.raises(FileNotFoundError, match='does not exist'):
        len(DonorIndex.from_folder(str(tmp_path / 'missing')))


def test_mask_index_skips_unreadable_and_needs_a_data_root(tmp_path):
    mask_file = str(tmp_path / 'm.tmask')
    write_mask_store(mask_file, ['x.jpg', 'y.jpg', 'z.jpg'],
                     np.random.rand(3, 4, 4), [True, False, True],
                     dict(data_root=str(tmp_path)))
    index = DonorIndex.from_masks(mask_file)
    np.random.seed(0)
    assert {index.keys()[index.sample()] for _ in range(60)} == {'x.jpg',
                                                                 'z.jpg'}
    assert not index.is_valid(1)
    write_mask_store(mask_file, ['x.jpg'], np.random.rand(1, 4, 4), [True],
                     dict(data_root=None))
    with pytest.raises(ValueError, match='records no data_root'):
        DonorIndex.from_masks(mask_file).path(0)
    assert DonorIndex.from_masks(mask_file, data_root='/d').path(0) == \
        '/d/x.jpg'


@pytest.fixture
def fresh_unreadable_record():
    clear_unreadable()
    yield
    clear_unreadable()


def test_load_image_at_reads_odd_but_fine_images(tmp_path):
    rgb = smooth_image(24, 32)
    files = dict(gray=Image.fromarray(rgb[..., 0]),
                 rgba=Image.fromarray(np.dstack([rgb, rgb[..., :1]]), 'RGBA'),
                 cmyk=Image.fromarray(rgb).convert('CMYK'),
                 tiny=Image.fromarray(rgb[:3, :3]))
    paths = []
    for name, img in files.items():
        paths.append(str(tmp_path / f'{name}.{"png" if name == "rgba" else "jpg"}'))
        img.save(paths[-1])
    paths.append(str(tmp_path / '16bit.png'))
    cv2.imwrite(paths[-1], rgb.astype(np.uint16) * 257)
    paths.append(str(tmp_path / '16bit_gray.png'))
    cv2.imwrite(paths[-1], rgb[..., 1].astype(np.uint16) * 257)
    for path in paths:
        assert load_image_at(path, (16, 12)).shape == (12, 16, 3), path
    # 16-bit grey keeps its high byte, as OpenCV reads it (not clipped)
    np.testing.assert_array_equal(
        load_image_at(paths[-1], (32, 24), gray=True), rgb[..., 1])


def test_truncated_donor_raises_once_and_is_never_drawn_again(
        tmp_path, fresh_unreadable_record):
    root = tmp_path / 'donors'
    root.mkdir()
    for i in range(3):
        Image.fromarray(smooth_image(240, 320)).save(str(root / f'{i}.jpg'))
    data = (root / '1.jpg').read_bytes()
    # cut in the compressed data: OpenCV's reduced decoding greys the rest
    # without an error
    (root / '1.jpg').write_bytes(data[:len(data) // 2])
    assert cv2.imread(str(root / '1.jpg'), cv2.IMREAD_REDUCED_COLOR_4) is not None
    (root / '2.jpg').write_bytes(b'')
    broken = [str(root / '1.jpg'), str(root / '2.jpg')]
    with pytest.raises(OSError, match='truncated'):
        load_image_at(broken[0], (32, 32))
    with pytest.raises(OSError, match='empty file'):
        load_image_at(broken[1], (32, 32))
    assert unreadable_kind(broken[0]) == 'truncated'
    with mock.patch('mmtobias.datasets.transforms.donor_index.cv2.imread') as imread:
        with pytest.raises(OSError, match='found unreadable before'):
            load_image_at(broken[0], (32, 32))
    imread.assert_not_called()  # a known file is not decoded again
    index = DonorIndex.from_folder(str(root))
    np.random.seed(0)
    assert {index.sample() for _ in range(40)} == {0}


def test_background_swap_stops_drawing_a_broken_donor(tmp_path,
                                                      fresh_unreadable_record):
    from mmengine.logging import MMLogger
    from mmpretrain.registry import TRANSFORMS
    root = tmp_path / 'donors'
    root.mkdir()
    Image.fromarray(smooth_image(32, 32)).save(str(root / 'good.jpg'))
    (root / 'text.jpg').write_text('not an image')
    swap = TRANSFORMS.build(dict(type='BackgroundSwap', prob=1.0,
                                 mode='random_merge', donor_root=str(root)))
    logger = MMLogger.get_current_instance()

    def named_in_warnings(calls):
        with mock.patch.object(logger, 'warning') as warn:
            for _ in range(calls):
                out = swap(dict(img=smooth_image(32, 32), img_path='x.jpg'))
                assert out['swap_applied']
                assert out['swap_donor_path'] == str(root / 'good.jpg')
        return [c[0][0] for c in warn.call_args_list if 'text.jpg' in c[0][0]]

    np.random.seed(1)
    first = []
    while not first:  # until the broken donor is drawn for the first time
        first = named_in_warnings(1)
    # named with the reason (BackgroundSwap warns for each of the call's
    # candidates, which may repeat it), then never drawn again
    assert 'not an image' in first[0] and len(first) <= 3
    assert named_in_warnings(20) == []


def test_load_first_names_each_broken_file_once(tmp_path,
                                                fresh_unreadable_record):
    from mmengine.logging import MMLogger
    good = str(tmp_path / 'good.png')
    Image.fromarray(smooth_image(30, 40)).save(good)
    broken = str(tmp_path / 'broken.jpg')
    open(broken, 'wb').write(b'')
    drawn = []

    def candidates():  # consumed lazily: nothing drawn after a success
        for p in (broken, broken, good, 'never/drawn.jpg'):
            drawn.append(p)
            yield p

    logger = MMLogger.get_current_instance()
    with mock.patch.object(logger, 'warning') as warn:
        k, img = load_first(candidates(), (16, 12), 'rgb', 'Owner', 'donor')
        assert (k, img.shape) == (2, (12, 16, 3))
        np.testing.assert_array_equal(img, load_image_at(good, (16, 12),
                                                         'rgb'))
        assert drawn == [broken, broken, good]
        assert load_first([broken], (8, 8)) == (None, None)
    (msg, ), = [c[0] for c in warn.call_args_list]  # once, with the reason
    assert msg == (f'Owner: donor {broken} does not decode (empty file (0 bytes)); '
                   f'drawing another donor.')
    index = DonorIndex.from_folder(str(tmp_path))
    assert index.load([0, 1], (8, 8))[0] == 1  # broken.jpg, then good.png


def test_reuse_keeps_an_index_until_its_source_changes(tmp_path):
    index = DonorIndex.from_masks('a.tmask', '/d')
    assert DonorIndex.reuse(index, 'masks', 'a.tmask', '/d') is index
    for spec in (('masks', 'b.tmask', '/d'), ('masks', 'a.tmask', None),
                 ('folder', str(tmp_path), None)):
        new = DonorIndex.reuse(index, *spec)
        assert new is not index and (new.kind, new.source) == spec[:2]
    assert DonorIndex.reuse(None, 'folder', str(tmp_path)).kind == 'folder'


def test_one_image_extension_list(tmp_path):
    """Every folder scan reads the same extensions: mmpretrain's
    CustomDataset default plus .tiff and .webp, any case."""
    import inspect

    from mmpretrain.datasets import CustomDataset

    from mmtobias.datasets.localization import base_box_dataset
    from mmtobias.evaluation import probes
    from mmtobias.scda import image_list
    from mmtobias.utils.image_files import IMG_EXTENSIONS
    for module in (base_box_dataset, probes, image_list):
        assert module.IMG_EXTENSIONS is IMG_EXTENSIONS
    default = inspect.signature(CustomDataset).parameters['extensions']
    assert set(IMG_EXTENSIONS) == set(default.default) | {'.tiff', '.webp'}
    names = ['a.JPG', 'b.jpeg', 'c.png', 'd.ppm', 'e.bmp', 'f.pgm', 'g.tif',
             'h.TIFF', 'i.webp', 'j.gif', 'k.txt']
    for name in names:
        (tmp_path / name).write_bytes(b'x')
    assert DonorIndex.from_folder(str(tmp_path)).keys() == names[:-2]
