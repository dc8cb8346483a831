# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""Which files the GPU decodes: a JPEG header check run in the CPU workers.

nvJPEG (``torchvision.io.decode_jpeg(..., device='cuda')``) is given only the
files it decodes like libjpeg (PIL): 8-bit baseline, extended or progressive
Huffman JPEGs with 1 (gray) or 3 (YCbCr) components, complete (ending with
the end-of-image marker) and at least the mask grid on each side. Everything
else (PNG and other formats, CMYK/YCCK, RGB-coded, 12-bit, arithmetic or
lossless JPEGs, truncated files) takes the CPU path, where a broken file is
named exactly as with ``decode='pil'``. A batch the GPU still rejects is
retried image by image, and the rejected images take the CPU path too.

The EXIF orientation is read here with PIL (``Image.getexif``, as
``ImageOps.exif_transpose`` does), because torchvision applies it only when
decoding on the CPU.
"""
import io
from typing import Optional, Tuple

from PIL import Image

__all__ = ['jpeg_header', 'exif_orientation', 'gpu_route']

_SOI, _EOI = b'\xff\xd8', b'\xff\xd9'
# SOF0 baseline, SOF1 extended sequential, SOF2 progressive (Huffman coded).
_GPU_SOF = (0xC0, 0xC1, 0xC2)
_STANDALONE = {0x01, 0xD8} | set(range(0xD0, 0xD8))
_ORIENTATION = 0x0112


def jpeg_header(data: bytes) -> Optional[dict]:
    """The frame header of JPEG ``data``, read up to the first scan.

    Returns:
        dict | None: ``sof`` (marker, e.g. 0xC0), ``precision`` (bits),
        ``width``, ``height``, ``components``, ``ids`` (component ids),
        ``adobe_transform`` (APP14, None when absent), ``app1`` (an Exif or
        XMP segment is present) and ``scan`` (a scan starts after the
        header); None when ``data`` does not start like a JPEG.
    """
    if data[:2] != _SOI:
        return None
    info = dict(sof=None, precision=0, width=0, height=0, components=0,
                ids=(), adobe_transform=None, app1=False, scan=False)
    pos, end = 2, len(data)
    while pos + 4 <= end:
        if data[pos] != 0xFF:
            break  # not a marker where one must be: malformed
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in _STANDALONE:
            pos += 2
            continue
        if marker == 0xD9:
            break
        length = int.from_bytes(data[pos + 2:pos + 4], 'big')
        seg = data[pos + 4:pos + 2 + length]
        if marker == 0xDA:
            info['scan'] = True
            break
        if (0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC)
                and len(seg) >= 6):
            n = seg[5]
            info.update(sof=marker, precision=seg[0],
                        height=int.from_bytes(seg[1:3], 'big'),
                        width=int.from_bytes(seg[3:5], 'big'), components=n,
                        ids=tuple(seg[6 + 3 * c] for c in range(n)
                                  if 6 + 3 * c < len(seg)))
        elif marker == 0xEE and seg[:5] == b'Adobe' and len(seg) >= 12:
            info['adobe_transform'] = seg[11]
        elif marker == 0xE1:
            info['app1'] = True
        pos += 2 + length
    return info


def exif_orientation(data: bytes) -> int:
    """The EXIF orientation (1-8; other values are ignored by PIL) of an
    image's bytes, as ``ImageOps.exif_transpose`` reads it (Exif, or XMP
    when Exif has none); 1 when absent or unreadable."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            return int(img.getexif().get(_ORIENTATION, 1))
    except Exception:  # a damaged Exif block: PIL's own decode decides
        return 1


def _cpu_reason(info: Optional[dict], data: bytes, min_size: int) -> str:
    """Why ``data`` is not for the GPU ('' when it is)."""
    if info is None:
        return 'not a JPEG'
    if info['sof'] is None or not info['scan']:
        return 'JPEG header not understood'
    if info['sof'] not in _GPU_SOF:
        return (f"JPEG coding SOF{info['sof'] - 0xC0} (lossless, "
                f'hierarchical or arithmetic)')
    if info['precision'] != 8:
        return f"{info['precision']}-bit JPEG"
    if info['components'] == 4:
        return 'CMYK/YCCK JPEG'
    if info['components'] not in (1, 3):
        return f"JPEG with {info['components']} components"
    if info['components'] == 3 and (info['adobe_transform'] == 0
                                    or info['ids'] == (82, 71, 66)):
        return 'RGB-coded JPEG'
    if min(info['width'], info['height']) < min_size:
        return 'smaller than the mask grid'
    if not data.rstrip(b'\0').endswith(_EOI):
        return 'no end-of-image marker (truncated?)'
    return ''


def gpu_route(data: bytes, min_size: int = 1) -> Tuple[Optional[int], str]:
    """Route one file's bytes: ``(orientation, '')`` when the GPU decodes
    it, ``(None, reason)`` when the CPU path does."""
    info = jpeg_header(data)
    reason = _cpu_reason(info, data, min_size)
    if reason:
        return None, reason
    return (exif_orientation(data) if info['app1'] else 1), ''
