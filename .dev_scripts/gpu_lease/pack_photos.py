# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""Pack ~300 real photos for a GPU machine that cannot see ../shared/data.

The photos' licences keep them out of the repository, so they are copied into
an ignored folder (default ``.gpu_wheelhouse/photos/``, ignored by
``.gitignore``) that a device run carries, and read there by
``tools/benchmarks/mask_decode_benchmark.py --images`` and
``tests/test_gpu/test_gpu_masks.py``. The mix, evenly spaced over each
source: Imagenette (224 px, some grayscale), kangaroo (full-size photos,
progressive and EXIF-tagged ones, and the truncated ``00090.jpg``), cards
(``.JPG``/``.jpg``, 378x504 and 960x540), plus a few files made here that
exercise the CPU fallback of ``decode='nvjpeg'`` and the EXIF orientation
(``edge/``: PNG, CMYK JPEG, EXIF orientations 3, 6 and 8).

Example::

    python .dev_scripts/gpu_lease/pack_photos.py            # -> .gpu_wheelhouse/photos
    python .dev_scripts/gpu_lease/pack_photos.py --out /tmp/photos --max-mb 10
"""
import argparse
import os
import os.path as osp
import shutil
import sys

from PIL import Image

HERE = osp.dirname(osp.abspath(__file__))
REPO = osp.dirname(osp.dirname(HERE))
DATA = osp.join(osp.dirname(REPO), 'shared', 'data')
# source name -> (folder under DATA, photos taken)
SOURCES = dict(imagenette=('imagenette-5k/train', 150),
               kangaroo=('kangaroo/images', 75), cards=('cards/train', 75))
KEEP = ('kangaroo/images/00090.jpg', )  # truncated on purpose: always packed
JPEG_EXT = ('.jpg', '.jpeg')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--data', default=DATA,
                        help='the shared data folder (default: ../shared/data '
                        'beside the repository)')
    parser.add_argument('--out', default=osp.join(REPO, '.gpu_wheelhouse',
                                                  'photos'))
    parser.add_argument('--max-mb', type=float, default=20.0,
                        help='size budget of the folder (default 20 MB)')
    return parser.parse_args(argv)


def _jpegs(folder):
    found = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        found += [osp.join(root, f) for f in sorted(files)
                  if f.lower().endswith(JPEG_EXT)]
    return sorted(found)


def _spaced(paths, num):
    if num >= len(paths):
        return list(paths)
    step = len(paths) / num
    return [paths[int(i * step)] for i in range(num)]


def _edge_cases(out, photo):
    """Files for the CPU fallback and the EXIF turn, made from ``photo``."""
    folder = osp.join(out, 'edge')
    os.makedirs(folder, exist_ok=True)
    with Image.open(photo) as img:
        img = img.convert('RGB')
        img.thumbnail((480, 480))
        img.save(osp.join(folder, 'png_photo.png'))
        img.convert('CMYK').save(osp.join(folder, 'cmyk_photo.jpg'),
                                 quality=90)
        for orientation in (3, 6, 8):
            exif = Image.Exif()
            exif[0x0112] = orientation
            img.save(osp.join(folder, f'exif_orientation_{orientation}.jpg'),
                     quality=90, exif=exif.tobytes())
    return sorted(osp.join(folder, f) for f in os.listdir(folder))


def pack(data, out, max_mb):
    """Copy the photos into ``out`` (emptied first). Returns
    ``{source: [paths]}`` of the packed files."""
    missing = [name for name, (sub, _) in SOURCES.items()
               if not osp.isdir(osp.join(data, sub))]
    if missing:
        raise SystemExit(f'{data} lacks {", ".join(missing)}; pass --data '
                         f'with the shared data folder.')
    if osp.isdir(out):
        shutil.rmtree(out)
    budget = max_mb * 2**20
    chosen = {}
    for name, (sub, num) in SOURCES.items():
        picks = _spaced(_jpegs(osp.join(data, sub)), num)
        picks += [osp.join(data, k) for k in KEEP
                  if k.startswith(sub) and osp.join(data, k) not in picks]
        chosen[name] = picks
    total = sum(osp.getsize(p) for ps in chosen.values() for p in ps)
    while total > budget * 0.95:  # drop the largest until it fits
        name, path = max(((n, p) for n, ps in chosen.items() for p in ps
                          if osp.relpath(p, data) not in KEEP),
                         key=lambda np_: osp.getsize(np_[1]))
        chosen[name].remove(path)
        total -= osp.getsize(path)
    packed = {}
    for name, picks in chosen.items():
        sub = SOURCES[name][0]
        packed[name] = []
        for src in picks:
            dst = osp.join(out, name, osp.relpath(src, osp.join(data, sub)))
            os.makedirs(osp.dirname(dst), exist_ok=True)
            shutil.copyfile(src, dst)
            packed[name].append(dst)
    packed['edge'] = _edge_cases(out, chosen['kangaroo'][0])
    return packed


def main(argv=None):
    args = parse_args(argv)
    packed = pack(args.data, args.out, args.max_mb)
    size = sum(osp.getsize(p) for ps in packed.values() for p in ps)
    print(', '.join(f'{k} {len(v)}' for k, v in packed.items())
          + f' photos -> {args.out} ({size / 2**20:.1f} MB)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
