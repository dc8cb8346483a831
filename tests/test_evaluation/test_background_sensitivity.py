# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""The background-sensitivity probe on cases whose answer is known."""
import json
import os.path as osp
import sys

import numpy as np
import pytest
import torch
import torch.nn as nn
from PIL import Image

import mmtobias  # noqa: F401
from mmtobias.evaluation import (background_sensitivity, box_mask,
                                 draw_donors, load_box_samples)
from mmtobias.evaluation.background_sensitivity import MEAN, STD

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


class ChannelMeans(nn.Module):
    """Identity trunk: the pooled feature is the normalised mean colour."""

    def forward(self, x):
        return (x, )


def _random_resnet18():
    from mmpretrain.registry import MODELS
    torch.manual_seed(0)
    net = MODELS.build(dict(type='ResNet', depth=18, base_channels=8,
                            stem_channels=8))
    net.init_weights()
    net.eval()
    return net


def _save(path, arr):
    Image.fromarray(np.asarray(arr, np.uint8)).save(path)
    return str(path)


def _norm(rgb):
    return (np.asarray(rgb, np.float64) - MEAN) / STD


def _cos(a, b):
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def test_box_mask_takes_pixel_centres_inside_the_scaled_boxes():
    left = box_mask(np.array([[0, 0, 50, 50]]), 100, 50, 8)
    assert left[:, :4].all() and not left[:, 4:].any()
    mid = box_mask(np.array([[25, 0, 75, 50]]), 100, 50, 8)
    assert mid.any(0).tolist() == [False, False, True, True, True, True,
                                   False, False]
    union = box_mask(np.array([[0, 0, 10, 10], [90, 40, 100, 50]]), 100, 50, 10)
    # 10 x 50 px per mask pixel: each box covers 1 column and 2 rows
    assert union[:2, 0].all() and union[-2:, -1].all() and union.sum() == 4
    assert box_mask(np.array([[0, 0, 100, 50]]), 100, 50, 7).all()
    assert not box_mask(np.zeros((0, 4)), 100, 50, 7).any()


def test_donors_are_seeded_and_never_the_image_itself():
    a, b = draw_donors(10, seed=0), draw_donors(10, seed=0)
    assert np.array_equal(a, b) and not np.array_equal(a, draw_donors(10, 1))
    assert all(d != i for i, d in enumerate(a)) and a.min() >= 0 and a.max() < 10
    assert draw_donors(2, 5).tolist() == [1, 0]
    with pytest.raises(ValueError, match='at least 2 readable images'):
        draw_donors(1, 0)


def test_identity_trunk_gives_the_hand_computed_similarities(tmp_path):
    c1, c2, d = (200, 30, 30), (20, 20, 220), (40, 180, 60)
    a = np.zeros((16, 16, 3))
    a[:, :8], a[:, 8:] = c1, c2
    pa = _save(tmp_path / 'a.png', a)
    pb = _save(tmp_path / 'b.png', np.full((16, 16, 3), d))
    samples = [(pa, np.array([[0, 0, 8, 16]])),   # box = the left half
               (pb, np.array([[0, 0, 16, 16]]))]  # box = the whole image
    res = background_sensitivity(ChannelMeans(), samples, size=16, seed=0)
    c1, c2, d = map(np.asarray, (c1, c2, d))
    fa = _norm((c1 + c2) / 2)
    fb = _norm(d)
    a_bg = _cos(fa, _norm((c1 + d) / 2))  # A: right half from B
    a_fg = _cos(fa, _norm((d + c2) / 2))  # A: left half from B
    b_bg, b_fg = 1.0, _cos(fb, fa)        # B: nothing outside; all from A
    rec = {osp.basename(r['img_path']): r for r in res['per_image']}
    assert rec['a.png']['donor_path'] == pb and rec['b.png']['donor_path'] == pa
    assert rec['a.png']['bg_swap'] == pytest.approx(a_bg, abs=1e-5)
    assert rec['a.png']['fg_swap'] == pytest.approx(a_fg, abs=1e-5)
    assert rec['b.png']['bg_swap'] == pytest.approx(b_bg, abs=1e-6)
    assert rec['b.png']['fg_swap'] == pytest.approx(b_fg, abs=1e-5)
    assert res['bg_swap']['mean'] == pytest.approx((a_bg + b_bg) / 2, abs=1e-5)
    assert res['bg_swap']['std'] == pytest.approx(abs(a_bg - b_bg) / 2, abs=1e-5)
    diffs = [a_bg - a_fg, b_bg - b_fg]
    assert res['bg_minus_fg']['mean'] == pytest.approx(np.mean(diffs), abs=1e-5)
    assert res['bg_minus_fg']['std'] == pytest.approx(np.std(diffs), abs=1e-5)
    assert rec['a.png']['box_fraction'] == 0.5 and res['images'] == 2


def test_whole_image_box_keeps_the_image_and_constant_regions_match(tmp_path):
    rng = np.random.default_rng(0)
    paths = [_save(tmp_path / f'{i}.png', rng.integers(0, 256, (40, 48, 3)))
             for i in range(3)]
    net = _random_resnet18()
    whole = [(p, np.array([[0, 0, 48, 40]])) for p in paths]
    res = background_sensitivity(net, whole, size=32, seed=0)
    assert all(r['bg_swap'] == pytest.approx(1.0, abs=1e-6)
               for r in res['per_image'])  # (a): nothing is outside
    assert all(r['fg_swap'] < 0.999 for r in res['per_image'])  # (b): another image
    # the box region of A is the constant colour that fills the donor: (b) = 1
    a = rng.integers(0, 256, (32, 32, 3))
    a[8:24, 8:24] = (90, 120, 30)
    pa = _save(tmp_path / 'a.png', a)
    pb = _save(tmp_path / 'b.png', np.full((32, 32, 3), (90, 120, 30)))
    res = background_sensitivity(
        net, [(pa, np.array([[8, 8, 24, 24]])), (pb, np.array([[0, 0, 4, 4]]))],
        size=32)
    assert res['per_image'][0]['fg_swap'] == pytest.approx(1.0, abs=1e-6)
    assert res['per_image'][0]['bg_swap'] < 0.999


def test_truncated_files_are_skipped_as_images_and_donors(tmp_path):
    rng = np.random.default_rng(1)
    paths = [str(tmp_path / f'{i}.jpg') for i in range(4)]
    for p in paths:
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(p)
    data = open(paths[1], 'rb').read()
    open(paths[1], 'wb').write(data[:len(data) // 2])
    box = np.array([[4, 4, 20, 20]])
    res = background_sensitivity(ChannelMeans(), [(p, box) for p in paths],
                                 size=16, seed=3)
    assert res['skipped'] == [paths[1]] and res['images'] == 3
    assert paths[1] not in {r['donor_path'] for r in res['per_image']}
    assert res == background_sensitivity(ChannelMeans(), [(p, box) for p in paths],
                                         size=16, seed=3)  # deterministic
    with pytest.raises(ValueError, match='size must be a positive int'):
        background_sensitivity(ChannelMeans(), [(paths[0], box)], size=0)


def _write_xml(path, filename, boxes):
    objs = ''.join(
        f'<object><name>roo</name><bndbox><xmin>{b[0]}</xmin><ymin>{b[1]}</ymin>'
        f'<xmax>{b[2]}</xmax><ymax>{b[3]}</ymax></bndbox></object>' for b in boxes)
    path.write_text(f'<annotation><filename>{filename}</filename><size><width>32'
                    f'</width><height>24</height></size>{objs}</annotation>')


def test_reads_voc_xml_folders_and_coco_json(tmp_path):
    img_dir = tmp_path / 'images'
    img_dir.mkdir()
    for name in ('x', 'y'):
        _save(img_dir / f'{name}.jpg', np.zeros((24, 32, 3)))
    ann = tmp_path / 'annots'
    ann.mkdir()
    _write_xml(ann / 'x.xml', 'x.jpg', [(1, 1, 10, 12), (5, 5, 32, 24)])
    _write_xml(ann / 'y.xml', 'y.jpg', [(3, 2, 20, 20)])
    samples = dict((osp.basename(p), b)
                   for p, b in load_box_samples(str(img_dir), str(ann)))
    assert samples['x.jpg'].tolist() == [[0, 0, 10, 12], [4, 4, 32, 24]]  # 1-based
    coco = dict(images=[dict(id=1, file_name='y.jpg', width=32, height=24)],
                annotations=[dict(id=1, image_id=1, category_id=3,
                                  bbox=[2, 1, 10, 5], iscrowd=0)],
                categories=[dict(id=3, name='roo')])
    (tmp_path / 'coco.json').write_text(json.dumps(coco))
    (path, boxes), = load_box_samples(str(img_dir), str(tmp_path / 'coco.json'))
    assert osp.basename(path) == 'y.jpg' and boxes.tolist() == [[2, 1, 12, 6]]
    (tmp_path / 'ann.txt').write_text('')
    with pytest.raises(ValueError, match='not a COCO json'):
        load_box_samples(str(img_dir), str(tmp_path / 'ann.txt'))


def test_cli_reads_selfsup_and_bare_checkpoints_alike(tmp_path, capsys):
    sys.path.insert(0, osp.join(REPO, 'tools'))
    import background_sensitivity as cli
    img_dir = tmp_path / 'images'
    img_dir.mkdir()
    rng = np.random.default_rng(2)
    for i in range(3):
        _save(img_dir / f'{i}.jpg', rng.integers(0, 256, (24, 32, 3)))
        _write_xml(img_dir / f'{i}.xml', f'{i}.jpg', [(4, 4, 20, 20)])
    net = cli.build_backbone(18, None, init_seed=5)
    state = net.state_dict()
    torch.save(dict(state_dict={f'backbone.{k}': v for k, v in state.items()},
                    meta=dict()), str(tmp_path / 'moco.pth'))
    torch.save(state, str(tmp_path / 'bare.pth'))
    common = ['--images', str(img_dir), '--annotations', str(img_dir),
              '--depth', '18', '--size', '32', '--device', 'cpu']
    out = tmp_path / 'res.json'
    res = cli.main(common + ['--checkpoint', str(tmp_path / 'moco.pth'),
                             '--out', str(out)])
    assert json.loads(out.read_text())['bg_swap'] == res['bg_swap']
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith('bg_swap=')
    bare = cli.main(common + ['--checkpoint', str(tmp_path / 'bare.pth')])
    rand = cli.main(common + ['--init-seed', '5'])
    assert bare['per_image'] == res['per_image'] == rand['per_image']
    other = cli.main(common + ['--init-seed', '6'])
    assert other['per_image'] != res['per_image']
    with pytest.raises(ValueError, match='pass the matching --depth'):
        cli.main(['--images', str(img_dir), '--annotations', str(img_dir),
                  '--depth', '34', '--checkpoint', str(tmp_path / 'moco.pth')])
