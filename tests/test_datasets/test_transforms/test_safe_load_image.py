# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
import os.path as osp
from unittest import mock

import cv2
import numpy as np
import pytest
from mmengine.logging import MMLogger
from mmengine.registry import DefaultScope
from PIL import Image

import mmtobias  # noqa: F401  (registers the transforms)
from mmpretrain.registry import DATASETS, TRANSFORMS
from mmtobias.datasets.transforms.unreadable_files import (clear_unreadable,
                                                           unreadable_kind)


@pytest.fixture(autouse=True)
def fresh_process_state():
    """Each test starts as a new process: no file recorded as unreadable."""
    clear_unreadable()
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        yield
    clear_unreadable()


def smooth_rgb(h, w):
    y, x = np.mgrid[:h, :w]
    return np.stack([x * 255 // w, y * 255 // h, (x + y) * 127 // (w + h)],
                    -1).astype(np.uint8)


def write_jpeg(path, h=48, w=64, **kwargs):
    Image.fromarray(smooth_rgb(h, w)).save(path, quality=90, **kwargs)
    return str(path)


def truncate(src, dst, fraction=2 / 3):
    data = open(src, 'rb').read()
    with open(dst, 'wb') as f:
        f.write(data[:int(len(data) * fraction)])
    return str(dst)


@pytest.fixture
def odd_files(tmp_path):
    """Files that are unusual but fine: every decoder must read them."""
    files = dict(rgb=write_jpeg(tmp_path / 'rgb.jpg'))
    files['gray'] = str(tmp_path / 'gray.jpg')
    Image.fromarray(smooth_rgb(40, 30)[..., 0]).save(files['gray'])
    files['rgba'] = str(tmp_path / 'rgba.png')
    rgba = np.dstack([smooth_rgb(20, 24), np.full((20, 24), 128, np.uint8)])
    Image.fromarray(rgba, 'RGBA').save(files['rgba'])
    files['16bit'] = str(tmp_path / '16bit.png')
    cv2.imwrite(files['16bit'], smooth_rgb(16, 20).astype(np.uint16) * 257)
    files['16bit_gray'] = str(tmp_path / '16bit_gray.png')
    cv2.imwrite(files['16bit_gray'],
                smooth_rgb(16, 20)[..., 1].astype(np.uint16) * 257)
    files['cmyk'] = str(tmp_path / 'cmyk.jpg')
    Image.fromarray(smooth_rgb(24, 32)).convert('CMYK').save(files['cmyk'])
    files['3x3'] = str(tmp_path / 'tiny.jpg')
    Image.fromarray(smooth_rgb(3, 3)).save(files['3x3'])
    exif = Image.Exif()
    exif[274] = 6  # displayed rotated by 90 degrees
    files['exif'] = write_jpeg(tmp_path / 'exif.jpg', h=30, w=50, exif=exif)
    return files


@pytest.fixture
def broken_files(tmp_path):
    """One file of each broken kind the issue lists."""
    empty = tmp_path / 'empty.jpg'
    empty.write_bytes(b'')
    text = tmp_path / 'text.jpg'
    text.write_text('this is not an image\n')
    good = write_jpeg(tmp_path / 'whole.jpg', h=96, w=128)
    return dict(empty=str(empty), text=str(text),
                truncated=truncate(good, tmp_path / 'truncated.jpg'))


def build(**kwargs):
    return TRANSFORMS.build(dict(type='SafeLoadImageFromFile', **kwargs))


def warnings_of(fn, *args):
    """The warning messages logged while calling ``fn(*args)``."""
    logger = MMLogger.get_current_instance()
    with mock.patch.object(logger, 'warning') as warn:
        out = fn(*args)
    return out, [c[0][0] for c in warn.call_args_list]


def test_cv2_decoder_gives_load_image_from_file_pixels(odd_files):
    stock = TRANSFORMS.build(dict(type='LoadImageFromFile'))
    safe = build(decoder='cv2', on_error='skip', truncated='skip')
    for kind, path in odd_files.items():
        want = stock(dict(img_path=path))
        got = safe(dict(img_path=path))
        assert got['img'].dtype == np.uint8 and got['img'].ndim == 3, kind
        np.testing.assert_array_equal(got['img'], want['img'], err_msg=kind)
        assert got['img_shape'] == want['img_shape'] == got['ori_shape']
        assert got['img_valid'] and got['skipped_files'] == []
    # EXIF orientation applied, as LoadImageFromFile does
    assert safe(dict(img_path=odd_files['exif']))['img'].shape == (50, 30, 3)


def test_pillow_decoder_keeps_the_stored_orientation(odd_files):
    safe = build()  # evaluation defaults: Pillow, as before
    for kind, path in odd_files.items():
        out = safe(dict(img_path=path))
        assert out['img'].ndim == 3 and out['img_valid'], kind
    assert safe(dict(img_path=odd_files['exif']))['img'].shape == (30, 50, 3)
    # 16-bit grey keeps its high byte, as OpenCV does (not clipped to 0/255)
    np.testing.assert_array_equal(
        safe(dict(img_path=odd_files['16bit_gray']))['img'],
        cv2.imread(odd_files['16bit_gray'], cv2.IMREAD_COLOR))
    np.testing.assert_array_equal(
        safe(dict(img_path=odd_files['rgb']))['img'][..., ::-1],
        np.asarray(Image.open(odd_files['rgb'])))


@pytest.mark.parametrize('decoder', ['cv2', 'pillow'])
@pytest.mark.parametrize('kind,reason', [('empty', 'empty file'),
                                         ('text', 'not an image'),
                                         ('truncated', 'truncated')])
def test_skip_names_the_file_once_and_counts_every_draw(
        broken_files, odd_files, decoder, kind, reason):
    safe = build(decoder=decoder, on_error='skip', truncated='skip')
    path = broken_files[kind]
    out, warned = warnings_of(safe, dict(img_path=path))
    assert out is None
    assert len(warned) == 1 and path in warned[0] and reason in warned[0]
    out, warned = warnings_of(safe, dict(img_path=path))  # drawn again
    assert out is None and warned == []
    good = safe(dict(img_path=odd_files['rgb']))
    assert good['skipped_files'] == [path, path]
    assert safe(dict(img_path=odd_files['rgb']))['skipped_files'] == []


def test_stock_loader_fails_where_the_safe_one_skips(broken_files):
    stock = TRANSFORMS.build(dict(type='LoadImageFromFile'))
    with pytest.raises(cv2.error, match='buf.empty'):  # the file is not named
        stock(dict(img_path=broken_files['empty']))
    with pytest.raises(AssertionError, match='failed to load image'):
        stock(dict(img_path=broken_files['text']))


@pytest.mark.parametrize('decoder', ['cv2', 'pillow'])
def test_partial_policy_keeps_the_decodable_part(broken_files, decoder):
    safe = build(decoder=decoder, on_error='skip', truncated='partial')
    out, warned = warnings_of(safe, dict(img_path=broken_files['truncated']))
    assert out['img'].shape == (96, 128, 3) and not out['img_valid']
    assert 'img_valid=False' in warned[0]
    assert unreadable_kind(broken_files['truncated']) == 'truncated'
    # the top rows decoded, the missing bottom is one flat fill colour
    top = smooth_rgb(96, 128)[:8, :, ::-1].astype(int)
    assert np.abs(out['img'][:8].astype(int) - top).mean() < 4
    assert out['img'][-4:].reshape(-1, 3).std(axis=0).max() < 2
    # recorded, yet a partial policy still decodes it (no second warning)
    again, warned = warnings_of(safe, dict(img_path=broken_files['truncated']))
    assert again['img'].shape == (96, 128, 3) and warned == []


def test_shared_truncated_jpeg_is_detected(shared_data):
    path = osp.join(shared_data, 'kangaroo', 'images', '00090.jpg')
    if not osp.isfile(path):
        pytest.skip(f'{path} is not present')
    skip = build(decoder='cv2', on_error='skip', truncated='skip')
    out, warned = warnings_of(skip, dict(img_path=path))
    assert out is None and 'truncated' in warned[0] and path in warned[0]


def test_placeholder_for_unreadable_files(broken_files, tmp_path):
    safe = build(decoder='cv2', fallback_size=(12, 16))
    for kind in ('empty', 'text'):
        out = safe(dict(img_path=broken_files[kind]))
        assert not out['img_valid'] and out['img'].shape == (12, 16, 3)
        assert not out['img'].any()
    out = safe(dict(img_path=broken_files['text'], width=20, height=10))
    assert out['img'].shape == (10, 20, 3)
    with pytest.raises(FileNotFoundError):  # a wrong path is no bad image
        safe(dict(img_path=str(tmp_path / 'missing.jpg')))
    skip = build(on_error='skip')
    out, warned = warnings_of(skip, dict(img_path=str(tmp_path / 'gone.jpg')))
    assert out is None and 'cannot be read' in warned[0]


def test_dataset_draws_another_sample_and_carries_the_skipped_paths(
        tmp_path, broken_files):
    root = tmp_path / 'images'
    root.mkdir()
    for i in range(3):
        write_jpeg(root / f'good{i}.jpg')
    for kind, path in broken_files.items():
        (root / f'{kind}.jpg').write_bytes(open(path, 'rb').read())
    pipeline = [
        dict(type='SafeLoadImageFromFile', decoder='cv2', on_error='skip',
             truncated='skip'),
        dict(type='PackInputs', algorithm_keys=['skipped_files'])
    ]
    dataset = DATASETS.build(
        dict(type='CustomDataset', data_root=str(root), with_label=False,
             pipeline=pipeline))
    np.random.seed(0)
    skipped = []
    for i in range(len(dataset)):
        sample = dataset[i]['data_samples']
        assert 'good' in osp.basename(sample.img_path)
        skipped += sample.skipped_files
    broken = {str(root / f'{kind}.jpg') for kind in broken_files}
    assert broken <= set(skipped) and set(skipped) <= broken
    # evaluation datasets must not skip: MMEngine refuses a None there
    test_set = DATASETS.build(
        dict(type='CustomDataset', data_root=str(root), with_label=False,
             pipeline=pipeline, test_mode=True))
    with pytest.raises(Exception, match='should not get `None`'):
        [test_set[i] for i in range(len(test_set))]


def test_repr_and_errors():
    safe = build(decoder='cv2', on_error='skip', truncated='skip')
    assert repr(safe) == (
        "SafeLoadImageFromFile(fallback_size=(224, 224), backend_args=None, "
        "decoder='cv2', on_error='skip', truncated='skip')")
    with pytest.raises(ValueError, match="on_error='drop' is not one of"):
        build(on_error='drop')
    with pytest.raises(ValueError, match='truncated='):
        build(truncated='error')
    with pytest.raises(ValueError, match='decoder='):
        build(decoder='turbojpeg')
    with pytest.raises(ValueError, match='fallback_size'):
        build(fallback_size=(1, 2, 3))
