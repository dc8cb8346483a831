# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
import os
import os.path as osp
import pickle

import cv2
import numpy as np
import pytest
from mmengine.registry import DefaultScope
from PIL import Image, ImageFilter

import mmtobias  # noqa: F401  (registers the transforms)
from mmpretrain.registry import TRANSFORMS
from mmtobias.datasets.transforms import load_image_at
from mmtobias.datasets.transforms.copy_paste import blur_mask
from mmtobias.scda import top_fraction_mask, write_mask_store

SIZE, GRID, CELL = 224, 4, 56


@pytest.fixture(autouse=True)
def mmpretrain_scope():
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        yield


@pytest.fixture
def data(tmp_path):
    """Noise images, a mask file, a saliency folder (left half salient) and
    a texture folder."""
    rng = np.random.RandomState(0)
    img_root, sal_root, tex_root = (str(tmp_path / d)
                                    for d in ('images', 'saliency', 'tex'))
    keys = ['a/x.png', 'b/y.png']
    for key in keys:
        for root in (img_root, sal_root):
            os.makedirs(osp.join(root, osp.dirname(key)), exist_ok=True)
        Image.fromarray(rng.randint(0, 256, (SIZE, SIZE, 3),
                                    dtype=np.uint8)).save(
                                        osp.join(img_root, key))
        sal = np.zeros((SIZE, SIZE), np.uint8)
        sal[:, :SIZE // 2] = 255
        Image.fromarray(sal).save(osp.join(sal_root, key))
    os.makedirs(tex_root)
    Image.fromarray(np.full((64, 80, 3), (10, 200, 30), np.uint8)).save(
        osp.join(tex_root, 'tex.jpg'), quality=100)
    maps = rng.rand(2, GRID, GRID).astype(np.float32)
    mask_file = str(tmp_path / 'masks.tmask')
    write_mask_store(mask_file, keys, maps, np.ones(2, bool),
                     dict(data_root=img_root))
    return dict(mask_file=mask_file, img_root=img_root, sal_root=sal_root,
                tex_root=tex_root, keys=keys, maps=maps)


def build(**kwargs):
    return TRANSFORMS.build(dict(type='CopyPaste', **kwargs))


def sample(data, i=0):
    path = osp.join(data['img_root'], data['keys'][i])
    return dict(img=load_image_at(path, (SIZE, SIZE)), img_path=path)


def test_tobias_cells_over_gray_hard(data):
    cp = build(prob=1.0, mask_file=data['mask_file'], upsample='nearest',
               blend='none')
    np.random.seed(0)
    results = sample(data)
    a = results['img'].copy()
    out = cp(results)['img']
    fg = np.kron(top_fraction_mask(data['maps'][0], 0.5),
                 np.ones((CELL, CELL), bool))
    assert np.array_equal(out[fg], a[fg])
    bg = out[~fg]
    assert (bg == bg[0, 0]).all()  # one uniform gray level


def test_tobias_bilinear_agrees_at_cell_centres(data):
    cp = build(prob=1.0, mask_file=data['mask_file'])
    mask = cp.foreground_mask(sample(data)['img_path'], SIZE, SIZE)
    centres = mask[CELL // 2::CELL, CELL // 2::CELL].astype(bool)
    assert np.array_equal(centres, top_fraction_mask(data['maps'][0], 0.5))


def test_saliency_folder_texture_and_gaussian_blend(data):
    cp = build(prob=1.0, saliency='folder', saliency_dir=data['sal_root'],
               data_root=data['img_root'], background='texture',
               texture_dir=data['tex_root'], blend='gaussian')
    results = sample(data, 1)
    a = results['img'].astype(int)
    out = cp(results)['img'].astype(int)
    # radius 5 reaches about 3 sigma = 15 px into each side of the edge at 112
    assert np.array_equal(out[:, :90], a[:, :90])  # salient, away from edge
    tex = np.array([30, 200, 10])  # BGR of the texture
    assert np.abs(out[:, 134:] - tex).max() <= 2
    edge = out[:, 111:113]  # blurred border: between image and texture
    assert not np.array_equal(edge, a[:, 111:113])


def test_gaussian_blend_uses_pillow_blur_of_radius_5(data):
    """The alpha is Pillow's GaussianBlur(5) of the saliency mask (released
    DiLo code), not a 5x5 kernel."""
    cp = build(prob=1.0, saliency='folder', saliency_dir=data['sal_root'],
               data_root=data['img_root'], background='texture',
               texture_dir=data['tex_root'], blend='gaussian')
    results = sample(data, 1)
    a = results['img'].astype(np.float32)
    out = cp(results)['img'].astype(np.float32)
    sal = Image.open(osp.join(data['sal_root'], data['keys'][1])).convert('L')
    bg = load_image_at(osp.join(data['tex_root'], 'tex.jpg'), (SIZE, SIZE))
    bg = bg.astype(np.float32)

    def composite(alpha):
        return np.clip(np.rint(alpha[..., None] * a + (1 - alpha[..., None]) * bg),
                       0, 255)

    pil_alpha = np.asarray(sal.filter(ImageFilter.GaussianBlur(5)),
                           np.float32) / 255
    assert np.abs(out - composite(pil_alpha)).max() <= 1
    hard = (np.asarray(sal) >= 128).astype(np.float32)
    old = composite(cv2.GaussianBlur(hard, (5, 5), 0))
    assert np.abs(out - old).max() > 20  # the former 5x5 blur differs
    assert 0 < pil_alpha[0, 102] < 1  # still soft 10 px from the edge


@pytest.mark.parametrize('radius', [5, 2.5])
def test_blur_mask_matches_pillow_and_a_gaussian_of_that_sigma(radius):
    yy, xx = np.mgrid[:120, :160]
    mask = (((yy - 60) ** 2 + (xx - 70) ** 2) < 35 ** 2).astype(np.float32)
    alpha = blur_mask(mask, radius)
    pil = Image.fromarray((mask * 255).astype(np.uint8)).filter(
        ImageFilter.GaussianBlur(radius))
    assert alpha.dtype == np.float32 and alpha.shape == mask.shape
    assert np.abs(alpha - np.asarray(pil, np.float32) / 255).max() <= 1 / 255
    # Pillow's radius is the standard deviation (three box passes approximate it)
    gauss = cv2.GaussianBlur(mask, (0, 0), radius, borderType=cv2.BORDER_REPLICATE)
    assert np.abs(alpha - gauss).max() < 0.03
    kernel5 = cv2.GaussianBlur(mask, (5, 5), 0)
    assert np.abs(alpha - kernel5).max() > 0.1


def test_blur_kernel_is_a_deprecated_name_of_the_radius(data):
    cp = build(mask_file=data['mask_file'], blur_kernel=3)
    assert cp.blur_radius == 3.0 and 'blur_radius=3.0' in repr(cp)
    assert 'blur_radius=5.0' in repr(build(mask_file=data['mask_file']))


def test_dataset_background_and_mix_blend_probability(data):
    cp = build(prob=1.0, mask_file=data['mask_file'], background='dataset',
               blend='mix', blend_prob=0.5)
    np.random.seed(0)
    soft = [cp._random_soft() for _ in range(400)]
    assert 0.4 < np.mean(soft) < 0.6
    out = cp(sample(data))
    assert out['copy_paste_applied'] and out['img'].shape == (SIZE, SIZE, 3)


def test_each_view_independently(data):
    pipeline = TRANSFORMS.build(
        dict(type='MultiView', num_views=2,
             transforms=[[dict(type='CopyPaste', prob=0.5,
                               mask_file=data['mask_file'])]]))
    np.random.seed(0)
    results = sample(data)
    a = results['img']
    pattern = set()
    for _ in range(40):
        views = pipeline(dict(results, img=a.copy()))['img']
        pattern.add(tuple(not np.array_equal(v, a) for v in views))
    assert pattern == {(False, False), (False, True), (True, False),
                       (True, True)}


def test_prob_and_pickle(data):
    cp = build(prob=0.3, mask_file=data['mask_file'])
    np.random.seed(0)
    n = 500
    rate = np.mean([cp(sample(data))['copy_paste_applied'] for _ in range(n)])
    assert abs(rate - 0.3) <= 4 * np.sqrt(0.21 / n)
    clone = pickle.loads(pickle.dumps(cp))
    assert repr(clone) == repr(cp)
    assert 'blend=' in repr(cp) and "background='gray'" in repr(cp)


def test_errors_are_clear(data):
    with pytest.raises(ValueError, match=r'prob must be a number in \[0, 1\]'):
        build(prob=2, mask_file=data['mask_file'])
    with pytest.raises(ValueError, match="unknown background 'noise'"):
        build(mask_file=data['mask_file'], background='noise')
    with pytest.raises(ValueError, match="saliency='tobias' needs mask_file"):
        build(prob=1.0)(sample(data))
    with pytest.raises(TypeError, match='CopyPaste: texture_dir must be a '
                       'path or None, got 3'):
        build(background='texture', texture_dir=3)
    with pytest.raises(ValueError, match='needs texture_dir'):
        build(mask_file=data['mask_file'], background='texture')
    with pytest.raises(ValueError, match='blur_radius must be a number >= 0'):
        build(mask_file=data['mask_file'], blur_radius=-1)
    cp = build(prob=1.0, saliency='folder', saliency_dir=data['tex_root'],
               data_root=data['img_root'])
    with pytest.raises(FileNotFoundError, match=r'no saliency map .*x\.png'):
        cp(sample(data))


def test_mask_file_set_after_construction(data):
    """The TobiasMaskGenerator hook sets ``mask_file`` on a transform built
    without one (config: ``mask_file`` at the top level only)."""
    cp = build(prob=1.0, background='dataset', blend='none')
    assert cp.mask_file is None and "mask_file=None" in repr(cp)
    with pytest.raises(ValueError, match=(
            r"CopyPaste: mask_file is not set, and saliency='tobias' needs "
            r'mask_file .*top level of the config.*TobiasMaskGenerator.*'
            r'custom_hooks.*or pass mask_file=<a Tobias mask file> to '
            r'CopyPaste')):
        cp(sample(data))
    clone = pickle.loads(pickle.dumps(cp))  # a worker copy before the hook
    cp.mask_file = clone.mask_file = data['mask_file']
    ref = build(prob=1.0, background='dataset', blend='none',
                mask_file=data['mask_file'])
    for t in (cp, clone):
        np.random.seed(2)
        out = t(sample(data))
        np.random.seed(2)
        want = ref(sample(data))
        assert out['copy_paste_applied']
        assert np.array_equal(out['img'], want['img'])
    assert cp.backgrounds is cp.masks  # one index: the store opened once
    # a folder saliency needs the file only for dataset backgrounds
    folder = dict(prob=1.0, saliency='folder', saliency_dir=data['sal_root'],
                  data_root=data['img_root'])
    assert build(**folder)(sample(data))['copy_paste_applied']
    with pytest.raises(ValueError, match=r"background='dataset' needs donor "
                       r'images.*or donor_root=<a folder of images>'):
        build(background='dataset', **folder)(sample(data))
    assert not build(prob=0.0)(sample(data))['copy_paste_applied']
