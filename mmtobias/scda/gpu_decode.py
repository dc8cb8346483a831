# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""The main-process half of ``decode='nvjpeg'``: batched nvJPEG decoding,
EXIF orientation and the resize to the network input, on the GPU.

The DataLoader workers read the files and route them
(:func:`~mmtobias.scda.jpeg_route.gpu_route`); a batch arrives as the packed
bytes of its GPU-decodable JPEGs plus the images the workers decoded on the
CPU. Here the JPEGs are decoded in one ``torchvision.io.decode_jpeg`` call
(RGB output, as PIL's ``convert('RGB')``), turned as their EXIF orientation
says (as ``ImageOps.exif_transpose``), and resized as PIL's bilinear resize
does (``antialias=True`` is PyTorch's port of PIL's resampling, run as PIL
runs it: the width first, rounded to uint8, then the height; ~0.2-1 % of
the pixels differ from PIL's by one level (PIL's fixed-point weights), a
few by two in upscaled images).
Images of one size are resized together.
"""
import logging
import warnings
from collections import Counter
from typing import Callable, List, Optional, Sequence

import torch
import torch.nn.functional as F
from mmengine.logging import print_log

__all__ = ['apply_orientation', 'resize_like_pil', 'nvjpeg_available',
           'NvjpegBatchDecoder']


def apply_orientation(img: torch.Tensor, orientation: int) -> torch.Tensor:
    """Turn a ``... x H x W`` image as PIL's ``ImageOps.exif_transpose``
    does for EXIF ``orientation`` (values outside 2-8 leave it as is)."""
    if orientation == 2:  # FLIP_LEFT_RIGHT
        return img.flip(-1)
    if orientation == 3:  # ROTATE_180
        return img.flip(-2, -1)
    if orientation == 4:  # FLIP_TOP_BOTTOM
        return img.flip(-2)
    if orientation == 5:  # TRANSPOSE
        return img.transpose(-2, -1)
    if orientation == 6:  # ROTATE_270 (90 degrees clockwise)
        return img.transpose(-2, -1).flip(-1)
    if orientation == 7:  # TRANSVERSE
        return img.transpose(-2, -1).flip(-2, -1)
    if orientation == 8:  # ROTATE_90 (90 degrees counter-clockwise)
        return img.transpose(-2, -1).flip(-2)
    return img


def resize_like_pil(imgs: Sequence[torch.Tensor],
                    size: int) -> torch.Tensor:
    """``C x H x W`` uint8 images (any sizes) -> ``N x C x size x size``
    uint8, bilinear with PIL's antialiasing; one call per distinct size."""
    out = torch.empty((len(imgs), imgs[0].shape[0], size, size),
                      dtype=torch.uint8, device=imgs[0].device)
    groups = {}
    for i, img in enumerate(imgs):
        groups.setdefault(tuple(img.shape), []).append(i)
    for shape, idx in groups.items():
        x = torch.stack([imgs[i] for i in idx]).float()
        # PIL resamples the width first and rounds to uint8 in between:
        # doing the same keeps ~99 % of the pixels equal to PIL's (one pass
        # in float: ~85 %), the rest within one level.
        for hw in ((shape[-2], size), (size, size)):
            if tuple(x.shape[-2:]) != hw:
                x = F.interpolate(x, size=hw, mode='bilinear',
                                  align_corners=False, antialias=True)
                x = x.round_().clamp_(0, 255)
        out[idx] = x.to(torch.uint8)
    return out


def nvjpeg_available() -> bool:
    """Whether this torchvision decodes JPEG batches on CUDA (>= 0.19)."""
    try:
        import torchvision.io  # noqa: F401  (loads the image ops)
        return hasattr(torch.ops.image, 'decode_jpegs_cuda')
    except (ImportError, RuntimeError, AttributeError):
        return False


def _nvjpeg(datas: List[torch.Tensor], device) -> List[torch.Tensor]:
    from torchvision.io import ImageReadMode, decode_jpeg
    with warnings.catch_warnings():  # deprecated in favour of torchcodec
        warnings.simplefilter('ignore', DeprecationWarning)
        return decode_jpeg(datas, mode=ImageReadMode.RGB, device=device)


class NvjpegBatchDecoder:
    """Completes the batches of an ``ImageListDataset(decode='nvjpeg')``.

    Args:
        cpu_decode (callable): ``index -> (3 x S x S uint8 array)``: the CPU
            path for an image the GPU rejects (raises on broken files).
        input_size (int): The network input side S.
        device (torch.device): Where the images are decoded and returned.
        decode_fn (callable, optional): ``list of byte tensors -> list of
            3 x H x W uint8 tensors``. Defaults to None (nvJPEG on
            ``device``); the tests and the CPU analysis pass torchvision's
            CPU decoder.
    """

    def __init__(self, cpu_decode: Callable, input_size: int, device,
                 decode_fn: Optional[Callable] = None):
        self.device = torch.device(device)
        if decode_fn is None and not nvjpeg_available():
            import torchvision
            raise ValueError(f"decode='nvjpeg' needs torchvision >= 0.19 "
                             f'built with nvJPEG (decode_jpeg on CUDA); '
                             f'this is torchvision {torchvision.__version__}'
                             f". Use decode='pil' or 'draft'.")
        self.cpu_decode, self.input_size = cpu_decode, input_size
        self.decode_fn = decode_fn or (lambda d: _nvjpeg(d, self.device))
        self.num_gpu = 0
        self.cpu_reasons = Counter()  # why images took the CPU path
        self._stream = None

    def _decode(self, datas):
        """Decoded images, None where the decoder rejects the file (one bad
        file fails the whole batch: the batch is retried image by image)."""
        try:
            return list(self.decode_fn(datas))
        except RuntimeError:
            out = []
            for data in datas:
                try:
                    out.append(self.decode_fn([data])[0])
                except RuntimeError:
                    out.append(None)
            return out

    def __call__(self, batch: dict):
        """A collated batch -> ``(idx, N x 3 x S x S uint8 on device, ok,
        reasons)``, as the CPU paths' batches.

        On CUDA the work runs on a side stream, so that its copies and
        syncs do not wait for the network still computing the previous
        batch on the current stream (which then waits for this one)."""
        if self.device.type != 'cuda':
            return self._complete(batch)
        if self._stream is None:
            self._stream = torch.cuda.Stream(self.device)
        with torch.cuda.stream(self._stream):
            out = self._complete(batch)
        current = torch.cuda.current_stream(self.device)
        current.wait_stream(self._stream)
        out[1].record_stream(current)  # made on the side stream, used here
        return out

    def _complete(self, batch: dict):
        idx, ok, reasons = batch['idx'], batch['ok'].clone(), batch['reasons']
        reasons = list(reasons)
        size = self.input_size
        imgs = torch.zeros((len(idx), 3, size, size), dtype=torch.uint8,
                           device=self.device)
        if len(batch['cpu_pos']):
            imgs[batch['cpu_pos'].to(self.device)] = batch['cpu_imgs'].to(
                self.device)
        self.cpu_reasons.update(batch['cpu_why'])
        flat, offsets = batch['data'], batch['offsets'].tolist()
        datas = [flat[a:b] for a, b in zip(offsets[:-1], offsets[1:])]
        decoded = self._decode(datas) if datas else []
        good, good_pos = [], []
        for pos, orientation, img in zip(batch['gpu_pos'].tolist(),
                                         batch['orientation'].tolist(),
                                         decoded):
            if img is not None:
                good.append(apply_orientation(img, orientation))
                good_pos.append(pos)
                continue
            self.cpu_reasons['rejected by nvJPEG'] += 1
            try:  # the CPU path names a broken file as decode='pil' does
                imgs[pos] = torch.from_numpy(self.cpu_decode(
                    int(idx[pos]))).permute(2, 0, 1).to(self.device)
            except Exception as e:
                ok[pos], reasons[pos] = False, f'{type(e).__name__}: {e}'
        if good:
            imgs[good_pos] = resize_like_pil(good, size)
        self.num_gpu += len(good)
        return idx, imgs, ok, reasons

    def log_summary(self, logger=None) -> None:
        why = ', '.join(f'{k} {v}' for k, v in self.cpu_reasons.most_common())
        print_log(f'Tobias masks: nvJPEG decoded {self.num_gpu} images on '
                  f'the GPU, {sum(self.cpu_reasons.values())} took the CPU '
                  f'path' + (f' ({why})' if why else ''),
                  logger=logger or 'current', level=logging.INFO)
