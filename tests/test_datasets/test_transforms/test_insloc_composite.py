# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
import logging
import os
import os.path as osp
import pickle

import numpy as np
import pytest
import torch
from mmengine.logging import MMLogger
from mmengine.registry import DefaultScope
from PIL import Image

import mmtobias  # noqa: F401  (registers the transforms)
from mmpretrain.registry import DATASETS, TRANSFORMS
from mmtobias.datasets.transforms import DonorIndex, load_image_at
from mmtobias.datasets.transforms.unreadable_files import (clear_unreadable,
                                                           unreadable_kind)
from mmtobias.scda import write_mask_store

RED = (0, 0, 255)  # BGR
COLOURS = [(255, 0, 0), (0, 255, 0), (255, 255, 0), (0, 255, 255)]  # BGR


@pytest.fixture(autouse=True)
def mmpretrain_scope():
    clear_unreadable()  # each test starts as a new process would
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        yield
    clear_unreadable()


def solid(colour, size=(60, 80)):
    img = np.zeros(size + (3, ), np.uint8)
    img[:] = colour
    return img


def write_png(path, bgr):
    os.makedirs(osp.dirname(path), exist_ok=True)
    Image.fromarray(np.ascontiguousarray(bgr[..., ::-1])).save(path)


@pytest.fixture
def colour_folder(tmp_path):
    """Four solid-colour PNGs (lossless), ImageNet-style layout."""
    root = str(tmp_path / 'images')
    paths = []
    for i, c in enumerate(COLOURS):
        paths.append(osp.join(root, f'cls{i % 2}', f'img{i}.png'))
        write_png(paths[-1], solid(c, (50 + 10 * i, 70)))
    return root, paths


def composite(**kwargs):
    return TRANSFORMS.build(dict(type='InsLocComposite', **kwargs))


def is_colour(img, colour):
    return np.all(np.abs(img.astype(int) - colour) <= 2, axis=-1)


def test_pasted_pixels_fill_box_after_paste_and_flip(colour_folder):
    root, paths = colour_folder
    pipeline = [
        composite(bg_size=128, paste_size_range=(32, 100)),
        TRANSFORMS.build(
            dict(
                type='MultiViewWithBoxes',
                transforms=[[dict(type='RandomFlip', prob=1.0)]])),
    ]
    flips = 0
    for seed in range(6):
        np.random.seed(seed)
        results = dict(img=solid(RED, (90, 60)), bg_img_paths=paths[:2])
        for t in pipeline:
            results = t(results)
        assert results['gt_bboxes'].shape == (2, 4)
        for img, box in zip(results['img'], results['gt_bboxes']):
            assert img.shape == (128, 128, 3)
            x1, y1, x2, y2 = box.astype(int)
            red = is_colour(img, RED)
            inside = np.zeros_like(red)
            inside[y1:y2, x1:x2] = True
            # every red pixel is in the box and the box is all red
            np.testing.assert_array_equal(red, inside)
        # with the same draws and no flip, the boxes are mirrored
        np.random.seed(seed)
        unflipped = pipeline[0](
            dict(img=solid(RED, (90, 60)), bg_img_paths=paths[:2]))
        expect = unflipped['gt_bboxes'].copy()
        expect[:, [0, 2]] = 128 - unflipped['gt_bboxes'][:, [2, 0]]
        np.testing.assert_allclose(results['gt_bboxes'], expect)
        flips += int(not np.allclose(expect, unflipped['gt_bboxes']))
    assert flips > 0


def test_dataset_gives_two_different_backgrounds(colour_folder):
    root, paths = colour_folder
    dataset = DATASETS.build(
        dict(
            type='InsLocDataset',
            data_root=root,
            with_label=False,
            pipeline=[
                dict(type='LoadImageFromFile'),
                dict(type='InsLocComposite', bg_size=96,
                     paste_size_range=(24, 40)),
            ]))
    np.random.seed(0)
    for idx in range(len(dataset)):
        results = dataset[idx]
        fg = dataset.get_data_info(idx)['img_path']
        bgs = results['bg_img_paths']
        assert len(set(bgs)) == 2 and fg not in bgs
        # the corners lie outside the small paste box in at least one view
        corner_colours = set()
        for img, box in zip(results['img'], results['gt_bboxes']):
            outside = np.ones(img.shape[:2], bool)
            x1, y1, x2, y2 = box.astype(int)
            outside[y1:y2, x1:x2] = False
            colours = {tuple(p) for p in img[outside]}
            assert len(colours) == 1  # one solid background per view
            corner_colours |= colours
        assert len(corner_colours) == 2  # and the two views' differ


def test_background_folder_and_paste_geometry(colour_folder):
    root, _ = colour_folder
    t = composite(bg_root=root)
    np.random.seed(1)
    sizes = []
    for _ in range(30):
        img = np.random.randint(0, 256, (120, 200, 3), np.uint8)
        results = t(dict(img=img))
        assert [v.shape for v in results['img']] == [(256, 256, 3)] * 2
        box = results['gt_bboxes']
        w, h = box[:, 2] - box[:, 0], box[:, 3] - box[:, 1]
        assert np.all(box >= 0) and np.all(box <= 256)
        # rescaled to fit a target in [128, 255) (mmcv.imrescale rule)
        assert np.all(np.maximum(w, h) < 255) and np.all(w >= 1)
        sizes += list(np.maximum(w, h))
    assert min(sizes) < 200 and max(sizes) > 200  # the size is random


def test_tobias_guided_crop_pastes_the_foreground_box(tmp_path):
    root = str(tmp_path / 'images')
    fg = np.zeros((80, 80, 3), np.uint8)
    fg[:40, 40:] = RED  # top-right quadrant: the Tobias foreground
    write_png(osp.join(root, 'fg.png'), fg)
    write_png(osp.join(root, 'bg.png'), solid(COLOURS[0], (64, 64)))
    maps = np.zeros((2, 4, 4), np.float32)
    maps[1, :2, 2:] = 10  # fg.png: 4 foreground cells, top-right
    mask_file = str(tmp_path / 'masks.tmask')
    write_mask_store(mask_file, ['bg.png', 'fg.png'], maps, [True, True],
                     dict(data_root=root))
    t = composite(bg_size=128, paste_size_range=(40, 100),
                  mask_file=mask_file, fg_fraction=0.25)
    np.random.seed(0)
    results = t(
        dict(img=fg, img_path=osp.join(root, 'fg.png'),
             bg_img_paths=[osp.join(root, 'bg.png')] * 2))
    for img, box in zip(results['img'], results['gt_bboxes']):
        x1, y1, x2, y2 = box.astype(int)
        # the crop is the foreground box: the pasted region is all red
        assert is_colour(img[y1:y2, x1:x2], RED).all()
    # the transform pickles without its open store
    assert pickle.loads(pickle.dumps(t)).mask_file == mask_file


def background_colours(results):
    """The one colour around the paste box of each view."""
    colours = []
    for img, box in zip(results['img'], results['gt_bboxes']):
        outside = np.ones(img.shape[:2], bool)
        x1, y1, x2, y2 = box.astype(int)
        outside[y1:y2, x1:x2] = False
        found = {tuple(int(v) for v in p) for p in img[outside]}
        assert len(found) == 1, found
        colours.append(found.pop())
    return colours


def truncated_copy(src, dst):
    with open(src, 'rb') as f:
        data = f.read()
    with open(dst, 'wb') as f:
        f.write(data[:len(data) // 3])
    return str(dst)


def warned_about(path, fn, *args):
    """``fn(*args)`` and the warnings of the current MMLogger naming ``path``
    (however the transform logs them)."""
    records = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    try:
        out = fn(*args)
    finally:
        logger.removeHandler(handler)
    return out, [r.getMessage() for r in records if path in r.getMessage()]


def test_unreadable_background_without_spares_falls_back_with_warning(
        colour_folder, tmp_path):
    _, paths = colour_folder
    broken = truncated_copy(paths[0], tmp_path / 'broken.png')
    t = composite(bg_size=64, paste_size_range=(16, 32))
    results, named = warned_about(
        broken, t, dict(img=solid(RED), bg_img_paths=[broken, paths[1]]))
    # no spare: the broken background is replaced by the (all red) image
    assert is_colour(results['img'][0], RED).all()
    assert not is_colour(results['img'][1], RED).all()
    assert broken in named[0] and unreadable_kind(broken) is not None
    _, named = warned_about(
        broken, t, dict(img=solid(RED), bg_img_paths=[broken, paths[1]]))
    assert all('no background' in m for m in named)  # not named as broken again


def test_unreadable_background_is_replaced_by_a_spare(colour_folder, tmp_path):
    _, paths = colour_folder
    empty = tmp_path / 'empty.jpg'
    empty.write_bytes(b'')
    t = composite(bg_size=64, paste_size_range=(16, 32))
    results, named = warned_about(
        str(empty), t,
        dict(img=solid(RED), bg_img_paths=[str(empty), paths[1]],
             bg_spare_paths=[str(empty), paths[2]]))
    # view 0 gets the first spare that decodes (colour 2) around the paste
    assert background_colours(results) == [COLOURS[2], COLOURS[1]]
    assert len(named) == 1 and 'empty file' in named[0]


def test_background_folder_redraws_unreadable_files(tmp_path):
    root = tmp_path / 'bg'
    for i in range(3):
        write_png(str(root / f'good{i}.png'), solid(COLOURS[0]))
    (root / 'text.jpg').write_text('not an image')
    t = composite(bg_root=str(root), bg_size=64, paste_size_range=(16, 32))
    np.random.seed(0)
    for _ in range(10):
        results = t(dict(img=solid(RED)))
        assert background_colours(results) == [COLOURS[0]] * 2
    assert unreadable_kind(str(root / 'text.jpg')) == 'unreadable'


def test_dataset_spares_keep_the_backgrounds_and_differ(colour_folder):
    root, _ = colour_folder
    draws = {}
    for spares in (0, 2):
        dataset = DATASETS.build(
            dict(type='InsLocDataset', data_root=root, with_label=False,
                 num_spare_backgrounds=spares, pipeline=[]))
        np.random.seed(0)
        draws[spares] = [dataset[i] for i in range(len(dataset))]
    for plain, spared in zip(draws[0], draws[2]):
        assert plain['bg_img_paths'] == spared['bg_img_paths']
        assert plain['bg_spare_paths'] == []
        # 4 images: the foreground, 2 backgrounds and 1 spare, all distinct
        assert len(spared['bg_spare_paths']) == 1
        assert len({spared['img_path'], *spared['bg_img_paths'],
                    *spared['bg_spare_paths']}) == 4
    assert 'Spare backgrounds per sample: 2' in repr(dataset)
    with pytest.raises(ValueError, match='num_spare_backgrounds'):
        DATASETS.build(dict(type='InsLocDataset', data_root=root,
                            num_spare_backgrounds=-1))


def test_dataset_skips_an_unreadable_foreground(colour_folder):
    root, paths = colour_folder
    with open(paths[0], 'wb') as f:
        f.write(b'')
    dataset = DATASETS.build(
        dict(type='InsLocDataset', data_root=root, with_label=False,
             pipeline=[
                 dict(type='SafeLoadImageFromFile', decoder='cv2',
                      on_error='skip', truncated='skip'),
                 dict(type='InsLocComposite', bg_size=64,
                      paste_size_range=(16, 32)),
                 dict(type='PackInputs',
                      algorithm_keys=['gt_bboxes', 'skipped_files'])
             ]))
    np.random.seed(0)
    sample = dataset[0]['data_samples']  # index 0 is the empty file
    assert sample.img_path != paths[0]
    assert sample.skipped_files == [paths[0]]
    # and the empty file, drawn as a background, is replaced by a spare
    for i in range(1, len(dataset)):
        inputs = dataset[i]['inputs']
        assert all(v.shape == (3, 64, 64) for v in inputs)


@pytest.mark.slow  # starts DataLoader worker processes
def test_packed_sample_keeps_both_boxes(colour_folder):
    root, _ = colour_folder
    dataset = DATASETS.build(
        dict(
            type='InsLocDataset',
            data_root=root,
            with_label=False,
            pipeline=[
                dict(type='LoadImageFromFile'),
                dict(type='InsLocComposite', bg_size=64,
                     paste_size_range=(16, 60)),
                dict(type='MultiViewWithBoxes',
                     transforms=[[dict(type='RandomFlip', prob=0.5)]]),
                dict(type='PackInputs', algorithm_keys=['gt_bboxes']),
            ]))
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=2, num_workers=2,
        collate_fn=__import__('mmengine').dataset.default_collate)
    batch = next(iter(loader))
    assert [v.shape for v in batch['inputs']] == [(2, 3, 64, 64)] * 2
    assert batch['data_samples'][0].gt_bboxes.shape == (2, 4)


def test_repr_and_errors():
    t = composite(bg_size=200, paste_size_range=(100, 199))
    assert 'bg_size=200' in repr(t) and 'paste_size_range=(100, 199)' in repr(t)
    with pytest.raises(ValueError, match='paste_size_range'):
        composite(bg_size=128, paste_size_range=(128, 300))
    with pytest.raises(ValueError, match='crop_ratio_range'):
        composite(crop_ratio_range=(0.5, 0.2))
    with pytest.raises(ValueError, match='bg_root'):
        composite(bg_root='/no/such/folder')
    with pytest.raises(KeyError, match='InsLocDataset'):
        composite()(dict(img=solid(RED)))
    with pytest.raises(ValueError, match='num_backgrounds'):
        composite()(dict(img=solid(RED), bg_img_paths=['a.png']))
    with pytest.raises(TypeError, match='list of pipelines'):
        TRANSFORMS.build(dict(type='MultiViewWithBoxes', transforms=[]))
    mv = TRANSFORMS.build(
        dict(type='MultiViewWithBoxes', transforms=[[], [], []]))
    assert 'Pipeline 3' in repr(mv)
    with pytest.raises(ValueError, match='one per view'):
        mv(dict(img=[solid(RED)] * 2, gt_bboxes=np.zeros((2, 4))))
    with pytest.raises(ValueError, match='one box per view'):
        mv(dict(img=[solid(RED)] * 3, gt_bboxes=np.zeros((2, 4))))
    with pytest.raises(ValueError, match='num_backgrounds'):
        DATASETS.build(
            dict(type='InsLocDataset', data_root='.', num_backgrounds=0))


def test_crop_is_drawn_by_mmpretrain_random_resized_crop():
    """The crop parameters are mmpretrain's RandomResizedCrop draw (area
    (0.2, 1), log-uniform aspect (0.5, 2), 10 tries, centre fallback)."""
    t = composite()
    rrc = TRANSFORMS.build(
        dict(type='RandomResizedCrop', scale=8, crop_ratio_range=(0.2, 1.0),
             aspect_ratio_range=(0.5, 2.0), max_attempts=10))
    for shape in ((90, 130), (300, 40), (17, 23)):
        img = np.zeros(shape + (3, ), np.uint8)
        for seed in range(20):
            np.random.seed(seed)
            params = t._random_params(img)
            np.random.seed(seed)  # the same stream: crop, paste, crop, paste
            for x, y, cw, ch, *paste in params:
                assert (y, x, ch, cw) == rrc.rand_crop_params(img)
                assert tuple(paste) == t._random_paste(cw, ch)
    # the centre-crop fallback, widest aspect allowed
    t = composite(max_attempts=0)
    assert t._random_crop(np.zeros((20, 200, 3), np.uint8)) == (80, 0, 40, 20)
    assert t._random_crop(np.zeros((90, 130, 3), np.uint8)) == (0, 0, 130, 90)


def test_background_folder_is_a_donor_index(colour_folder, tmp_path):
    """bg_root backgrounds: drawn by DonorIndex.sample (uniform, the random
    stream of the former ``randint(n, size=num_views)``) and decoded by
    load_image_at, as BackgroundSwap's donors."""
    root, paths = colour_folder
    t = composite(bg_root=root, bg_size=64, paste_size_range=(16, 32))
    np.random.seed(0)
    got = [t._random_bg_paths() for _ in range(40)]
    np.random.seed(0)
    scan = sorted(paths)
    assert got == [[scan[i] for i in np.random.randint(0, 4, size=2)]
                   for _ in range(40)]
    assert isinstance(t.bg_index, DonorIndex) and len(t.bg_index) == 4
    assert len(pickle.dumps(t)) < 4000  # the folder, not its file list
    # a smooth JPEG background: the canvas around the paste is load_image_at's
    smooth = tmp_path / 'smooth'
    smooth.mkdir()
    yy, xx = np.mgrid[:150, :210]
    rgb = np.stack([xx, yy, xx + yy], -1).astype(np.uint8)
    Image.fromarray(rgb).save(str(smooth / 'bg.jpg'), quality=95)
    t = composite(bg_root=str(smooth), bg_size=64, paste_size_range=(16, 32))
    results = t(dict(img=solid(RED)))
    want = load_image_at(str(smooth / 'bg.jpg'), (64, 64))
    for img, box in zip(results['img'], results['gt_bboxes']):
        outside = np.ones((64, 64), bool)
        x1, y1, x2, y2 = box.astype(int)
        outside[y1:y2, x1:x2] = False
        assert np.array_equal(img[outside], want[outside])


def test_tobias_guided_crop_reopens_the_mask_file_in_a_copy(tmp_path):
    root = str(tmp_path / 'images')
    fg = np.zeros((80, 80, 3), np.uint8)
    fg[40:, :40] = RED  # bottom-left quadrant
    write_png(osp.join(root, 'fg.png'), fg)
    maps = np.zeros((1, 4, 4), np.float32)
    maps[0, 2:, :2] = 10
    mask_file = str(tmp_path / 'masks.tmask')
    write_mask_store(mask_file, ['fg.png'], maps, [True],
                     dict(data_root=root))
    t = composite(bg_size=128, paste_size_range=(40, 100),
                  mask_file=mask_file, fg_fraction=0.25)
    sample = dict(img=fg, img_path=osp.join(root, 'fg.png'),
                  bg_img_paths=[osp.join(root, 'fg.png')] * 2)
    t(dict(sample))  # opens the store
    # set after construction (the TobiasMaskGenerator hook): the Tobias crop
    later = composite(bg_size=128, paste_size_range=(40, 100),
                      fg_fraction=0.25)
    later.mask_file = mask_file
    out = later(dict(sample))
    for img, box in zip(out['img'], out['gt_bboxes']):
        x1, y1, x2, y2 = box.astype(int)
        assert is_colour(img[y1:y2, x1:x2], RED).all()
    clone = pickle.loads(pickle.dumps(t))
    assert len(pickle.dumps(t)) < 4000
    assert clone._tobias_crop(sample, 80, 80) == (0, 40, 40, 40)
