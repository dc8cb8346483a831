# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
import os.path as osp
import pickle

import cv2
import numpy as np
import pytest
from PIL import Image

from mmtobias.datasets.transforms import DonorIndex, load_image_at
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
