# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""The decoding paths of mask generation on the CPU: 'draft', and the nvJPEG
path's CPU side (routing, EXIF turn, resize, fallback), with torchvision's
CPU decoder standing in for nvJPEG."""
import os
import os.path as osp

import numpy as np
import pytest
import torch
from PIL import Image, ImageFile, ImageOps

from mmtobias.scda import MaskStore, generate_masks, scan_images
from mmtobias.scda.gpu_decode import (NvjpegBatchDecoder, apply_orientation,
                                      resize_like_pil)
from mmtobias.scda.image_list import ImageListDataset, decode_image
from mmtobias.scda.jpeg_route import gpu_route, jpeg_header
from mmtobias.scda.mask_store import write_mask_store
from mmtobias.scda.plan import check_mask_file

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TRUNCATED = osp.join(osp.dirname(REPO), 'shared', 'data', 'kangaroo',
                     'images', '00090.jpg')


def _photo(w, h, seed=0):
    """A smooth image with structure (JPEG-friendly, like a photo)."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (6, 8, 3)).astype(np.uint8)
    img = Image.fromarray(coarse).resize((w, h), Image.BICUBIC)
    arr = np.asarray(img).astype(np.int16)
    arr[h // 3:h // 2, w // 4:w // 2] = 250  # an object
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def _save(img, path, **kwargs):
    img.save(path, **kwargs)
    return str(path)


def _exif(orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


def _cpu_jpeg(datas):
    from torchvision.io import ImageReadMode, decode_jpeg
    return [decode_jpeg(d, mode=ImageReadMode.RGB) for d in datas]


@pytest.fixture
def folder(tmp_path):
    """One file per case the nvJPEG path routes."""
    d = tmp_path / 'images'
    d.mkdir()
    photo = _photo(320, 240)
    _save(photo, d / 'baseline.jpg', quality=90)
    _save(photo, d / 'progressive.jpg', quality=90, progressive=True)
    _save(photo.convert('L'), d / 'gray.jpg', quality=90)
    _save(photo, d / 'rotated.jpg', quality=90, exif=_exif(6))
    _save(photo, d / 'photo.png')
    _save(photo.convert('CMYK'), d / 'cmyk.jpg', quality=90)
    data = open(d / 'baseline.jpg', 'rb').read()
    (d / 'cut.jpg').write_bytes(data[:len(data) // 2])  # truncated
    (d / 'text.jpg').write_text('not an image\n')
    return d


def test_draft_is_bit_identical_below_twice_the_input(tmp_path):
    path = _save(_photo(400, 300), tmp_path / 'a.jpg', quality=90)
    np.testing.assert_array_equal(decode_image(path, 224, draft=True),
                                  decode_image(path, 224))


def test_draft_decodes_large_jpegs_at_a_reduced_scale(tmp_path, monkeypatch):
    path = _save(_photo(1000, 700), tmp_path / 'a.jpg', quality=90)
    sizes = []
    load = ImageFile.ImageFile.load

    def record(img):
        sizes.append(img.size)
        return load(img)

    monkeypatch.setattr(ImageFile.ImageFile, 'load', record)
    draft = decode_image(path, 224, draft=True)
    full = decode_image(path, 224)
    assert sizes[0] == (500, 350)  # 1/2: the largest keeping both >= 224
    assert draft.shape == full.shape == (224, 224, 3)
    assert np.abs(draft.astype(int) - full.astype(int)).mean() < 2


def test_draft_keeps_the_exif_orientation(tmp_path):
    photo = _photo(1000, 600)
    path = _save(photo, tmp_path / 'r.jpg', quality=90, exif=_exif(6))
    upright = _save(photo.transpose(Image.Transpose.ROTATE_270),
                    tmp_path / 'u.jpg', quality=90)
    got = decode_image(path, 224, draft=True).astype(int)
    assert np.abs(got - decode_image(upright, 224, draft=True)).mean() < 3
    flipped = decode_image(_save(photo, tmp_path / 'p.jpg', quality=90), 224)
    assert np.abs(got - flipped).mean() > 10  # the turn was applied


def test_gpu_route_sends_other_files_to_the_cpu(folder):
    def route(name, min_size=4):
        return gpu_route(open(folder / name, 'rb').read(), min_size)

    assert route('baseline.jpg') == (1, '')
    assert route('progressive.jpg') == (1, '')
    assert route('gray.jpg') == (1, '')
    assert route('rotated.jpg') == (6, '')
    assert route('photo.png') == (None, 'not a JPEG')
    assert route('cmyk.jpg') == (None, 'CMYK/YCCK JPEG')
    assert route('cut.jpg') == (None, 'no end-of-image marker (truncated?)')
    assert route('text.jpg') == (None, 'not a JPEG')
    assert route('baseline.jpg', 500) == (None, 'smaller than the mask grid')
    header = jpeg_header(open(folder / 'progressive.jpg', 'rb').read())
    assert header['sof'] == 0xC2 and header['components'] == 3
    assert (header['width'], header['height']) == (320, 240)


@pytest.mark.skipif(not osp.isfile(TRUNCATED), reason='needs ../shared/data')
def test_gpu_route_catches_the_real_truncated_photo():
    assert gpu_route(open(TRUNCATED, 'rb').read())[0] is None


@pytest.mark.parametrize('orientation', range(1, 9))
def test_orientation_on_tensors_matches_exif_transpose(tmp_path, orientation):
    path = _save(_photo(64, 40), tmp_path / 'o.jpg', quality=95,
                 exif=_exif(orientation))
    data = open(path, 'rb').read()
    turn, why = gpu_route(data)
    assert (turn, why) == (orientation, '')
    raw = torch.frombuffer(bytearray(data), dtype=torch.uint8)
    got = apply_orientation(_cpu_jpeg([raw])[0], turn)
    with Image.open(path) as img:
        ref = np.asarray(ImageOps.exif_transpose(img).convert('RGB'))
    np.testing.assert_array_equal(got.permute(1, 2, 0).numpy(), ref)


def test_resize_like_pil_is_within_a_level_of_pil():
    imgs = [_photo(500, 375, 1), _photo(375, 500, 2), _photo(500, 375, 3),
            _photo(100, 80, 4)]  # two of one size: resized together
    tensors = [torch.from_numpy(np.array(i)).permute(2, 0, 1) for i in imgs]
    got = resize_like_pil(tensors, 224)
    for img, out in zip(imgs, got):
        ref = np.asarray(img.resize((224, 224), Image.BILINEAR)).astype(int)
        diff = np.abs(out.permute(1, 2, 0).numpy().astype(int) - ref)
        assert (diff == 0).mean() > 0.97 and (diff <= 1).mean() > 0.999
        assert diff.max() <= (1 if img.width > 224 else 2)  # 2: upscaled


def _batch(dataset):
    return dataset.collate([dataset[i] for i in range(len(dataset))])


def test_nvjpeg_path_falls_back_and_names_broken_files(folder):
    paths = scan_images(str(folder))
    pil = _batch(ImageListDataset(paths, 64, min_size=4))
    dataset = ImageListDataset(paths, 64, min_size=4, decode='nvjpeg')
    batch = _batch(dataset)
    names = [osp.basename(p) for p in paths]
    on_gpu = {names[k] for k in batch['gpu_pos'].tolist()}
    assert on_gpu == {'baseline.jpg', 'progressive.jpg', 'gray.jpg',
                      'rotated.jpg'}
    decoder = NvjpegBatchDecoder(dataset.decode_cpu, 64, 'cpu',
                                 decode_fn=_cpu_jpeg)
    idx, imgs, ok, reasons = decoder(batch)
    assert idx.tolist() == pil[0].tolist()
    assert ok.tolist() == pil[2].tolist()  # cut.jpg, text.jpg unreadable
    assert reasons == list(pil[3])  # named as with decode='pil'
    assert not ok[names.index('cut.jpg')]
    diff = (imgs.int() - pil[1].int()).abs()
    assert diff.max() <= 1  # the same images, EXIF turn included
    assert decoder.num_gpu == 4
    assert decoder.cpu_reasons == {'not a JPEG': 2, 'CMYK/YCCK JPEG': 1,
                                   'no end-of-image marker (truncated?)': 1}


def test_nvjpeg_rejected_batch_is_retried_image_by_image(folder):
    paths = [str(folder / n) for n in ('baseline.jpg', 'gray.jpg',
                                       'rotated.jpg')]
    dataset = ImageListDataset(paths, 64, min_size=4, decode='nvjpeg')

    def picky(datas):  # rejects the grayscale JPEG, as a GPU might
        if any(d.numel() == len(open(paths[1], 'rb').read()) for d in datas):
            raise RuntimeError('Error while decoding JPEG images')
        return _cpu_jpeg(datas)

    decoder = NvjpegBatchDecoder(dataset.decode_cpu, 64, 'cpu', picky)
    _, imgs, ok, _ = decoder(_batch(dataset))
    assert ok.all() and decoder.num_gpu == 2
    assert decoder.cpu_reasons == {'rejected by nvJPEG': 1}
    np.testing.assert_array_equal(imgs[1].permute(1, 2, 0).numpy(),
                                  decode_image(paths[1], 64))


def test_generate_records_the_decode_path(tmp_path):
    root = tmp_path / 'data'
    root.mkdir()
    paths = [_save(_photo(700, 500, s), root / f'{s}.jpg', quality=90)
             for s in range(3)]
    net = dict(arch='resnet18', input_size=64, layer4_stride=1,
               extra_pool=False, batch_size=2, num_workers=0,
               precision='fp32', progress=False)
    pil, auto = str(tmp_path / 'pil.tmask'), str(tmp_path / 'auto.tmask')
    generate_masks(paths, str(root), pil, decode='pil', **net)
    generate_masks(paths, str(root), auto, **net)
    assert MaskStore(pil).meta['decode'] == 'pil'
    assert MaskStore(auto).meta['decode'] == 'draft'  # measured >= 99 %
    assert "decode: file 'draft', wanted 'pil'" in check_mask_file(
        auto, paths, str(root), dict(decode='pil'))
    # A file written before 'decode' was recorded counts as 'pil' ...
    store = MaskStore(pil)
    meta = {k: v for k, v in store.meta.items() if k != 'decode'}
    write_mask_store(pil, store.keys(), store.all_maps(),
                     [True] * len(store), meta, stats=store.stats)
    assert check_mask_file(pil, paths, str(root), dict(decode='pil')) is None
    summary = generate_masks(paths, str(root), pil, **net)
    assert summary['num_reused'] == 3 and summary['num_computed'] == 0
    # ... and 'auto' keeps it when an image changes: the others are reused
    st = os.stat(paths[1])
    os.utime(paths[1], ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    summary = generate_masks(paths, str(root), pil, **net)
    assert summary['num_reused'] == 2 and summary['num_computed'] == 1
    assert MaskStore(pil).meta['decode'] == 'pil'


def test_nvjpeg_needs_cuda(tmp_path):
    with pytest.raises(ValueError, match="decode='nvjpeg' decodes on a CUDA"):
        generate_masks([str(tmp_path / 'a.jpg')], str(tmp_path), 'o',
                       decode='nvjpeg', device='cpu')
    with pytest.raises(ValueError, match="decode='gpu' is not one of"):
        ImageListDataset([], 64, decode='gpu')
