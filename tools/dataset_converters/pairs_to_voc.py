# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""Convert an image + Pascal-VOC-XML folder into the VOC layout mmdet reads.

Input layouts (detected automatically):

- *pairs*: ``ROOT/images/*`` and ``ROOT/annots/*.xml`` (or ``annotations/``,
  ``Annotations/``, ``xmls/``) matched by file stem, e.g. the kangaroo set;
- *split folders*: ``ROOT/train/`` and ``ROOT/test/`` (``val/`` is merged into test),
  each holding the XML beside its image, e.g. the cards set; the given split is kept
  unless ``--resplit``;
- *flat*: images and XMLs side by side in ``ROOT``.

Image endings may be any case (``.jpg``, ``.JPG``, ``.jpeg``, ``.png``, ...).

Output (``OUT``)::

    OUT/JPEGImages/<id>.jpg          symlink to the source JPEG (``--copy`` copies;
                                     non-JPEG sources and JPEGs with an EXIF
                                     rotation are re-encoded as stored, untagged)
    OUT/Annotations/<id>.xml         clean VOC XML: true image size, boxes clipped
    OUT/ImageSets/Main/trainval.txt  seeded split (or the given one)
    OUT/ImageSets/Main/test.txt
    OUT/classes.txt                  class names, one per line

Images that cannot be decoded (e.g. a truncated JPEG) are skipped with a warning that
names the file; everything else is kept.

Example::

    python tools/dataset_converters/pairs_to_voc.py ../shared/data/kangaroo \\
        /tmp/kangaroo_voc --test-ratio 0.2 --seed 0
"""
import argparse
import os
import os.path as osp
import random
import shutil
import sys
import warnings
import xml.etree.ElementTree as ET

from PIL import Image

IMG_EXTS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')
ANN_DIRS = ('annots', 'annotations', 'Annotations', 'xmls', 'labels')
IMG_DIRS = ('images', 'JPEGImages', 'imgs')
EXIF_ORIENTATION = 274
SPLIT_DIRS = {'train': 'trainval', 'trainval': 'trainval', 'val': 'test', 'test': 'test'}


def _images_by_stem(folder):
    out = {}
    for name in sorted(os.listdir(folder)):
        stem, ext = osp.splitext(name)
        if ext.lower() in IMG_EXTS:
            if stem in out:
                warnings.warn(f'two images share the stem {stem!r} in {folder}; '
                              f'using {out[stem]} and ignoring {name}')
                continue
            out[stem] = osp.join(folder, name)
    return out


def _pair(img_dir, ann_dir):
    """Return ``[(stem, image_path, xml_path)]`` for stems present in both folders."""
    images = _images_by_stem(img_dir)
    pairs = []
    for stem in sorted(images):
        xml = osp.join(ann_dir, stem + '.xml')
        if osp.isfile(xml):
            pairs.append((stem, images[stem], xml))
        else:
            warnings.warn(f'no annotation {xml} for image {images[stem]}; skipped')
    return pairs


def find_samples(root):
    """Detect the layout of ``root``.

    Returns:
        tuple[list, dict | None]: ``[(stem, image, xml)]`` and, for the split-folder
        layout, ``{stem: 'trainval' | 'test'}`` (None otherwise).
    """
    if not osp.isdir(root):
        raise ValueError(f'src={root!r} is not a directory; pass a folder with images '
                         'and Pascal-VOC XML files')
    sub = {d: osp.join(root, d) for d in os.listdir(root) if osp.isdir(osp.join(root, d))}
    img_dir = next((sub[d] for d in IMG_DIRS if d in sub), None)
    ann_dir = next((sub[d] for d in ANN_DIRS if d in sub), None)
    if img_dir and ann_dir:
        return _pair(img_dir, ann_dir), None
    splits = [d for d in sorted(sub) if d in SPLIT_DIRS]
    if splits:
        samples, given = [], {}
        for d in splits:
            for stem, img, xml in _pair(sub[d], sub[d]):
                uid = stem if stem not in given else f'{d}_{stem}'
                samples.append((uid, img, xml))
                given[uid] = SPLIT_DIRS[d]
        return samples, given
    samples = _pair(root, root)
    if not samples:
        raise ValueError(
            f'found no image/XML pairs in {root!r}: expected images/ + annots/ folders, '
            'train/ + test/ folders with the XML beside each image, or both side by side')
    return samples, None


def read_objects(xml_path):
    """Parse ``<object>`` entries: ``[(name, difficult, truncated, [x1, y1, x2, y2])]``."""
    try:
        root = ET.parse(xml_path).getroot()
    except ET.ParseError as e:
        raise ValueError(f'cannot parse annotation file {xml_path}: {e}') from e
    objects = []
    for obj in root.findall('object'):
        name = (obj.findtext('name') or '').strip()
        box = obj.find('bndbox')
        if not name or box is None:
            warnings.warn(f'{xml_path}: an <object> without <name> or <bndbox>; skipped')
            continue
        coords = [float(box.findtext(k)) for k in ('xmin', 'ymin', 'xmax', 'ymax')]
        objects.append((name, int(float(obj.findtext('difficult') or 0)),
                        int(float(obj.findtext('truncated') or 0)), coords))
    return objects


def check_image(path):
    """Decode the whole image; return ``(width, height, needs_reencode)`` or None.

    Non-JPEG files and JPEGs with an EXIF orientation tag need re-encoding: XML boxes
    refer to the stored pixels, while some decoders (OpenCV) rotate by the tag.
    """
    try:
        with Image.open(path) as img:
            img.load()
            rotated = img.getexif().get(EXIF_ORIENTATION, 1) != 1
            return img.width, img.height, img.format != 'JPEG' or rotated
    except (OSError, SyntaxError, ValueError) as e:
        warnings.warn(f'cannot decode image {path} ({e}); it is left out of the dataset')
        return None


def write_xml(path, image_id, width, height, objects):
    ann = ET.Element('annotation')
    ET.SubElement(ann, 'folder').text = 'JPEGImages'
    ET.SubElement(ann, 'filename').text = f'{image_id}.jpg'
    size = ET.SubElement(ann, 'size')
    for key, val in (('width', width), ('height', height), ('depth', 3)):
        ET.SubElement(size, key).text = str(val)
    for name, difficult, truncated, (x1, y1, x2, y2) in objects:
        obj = ET.SubElement(ann, 'object')
        ET.SubElement(obj, 'name').text = name
        ET.SubElement(obj, 'difficult').text = str(difficult)
        ET.SubElement(obj, 'truncated').text = str(truncated)
        box = ET.SubElement(obj, 'bndbox')
        for key, val in zip(('xmin', 'ymin', 'xmax', 'ymax'), (x1, y1, x2, y2)):
            ET.SubElement(box, key).text = str(val)
    ET.indent(ann)
    ET.ElementTree(ann).write(path, encoding='utf-8')


def clip_objects(objects, width, height, xml_path):
    """Round to VOC's 1-based integer pixels inside the image; drop empty boxes."""
    kept = []
    for name, difficult, truncated, (x1, y1, x2, y2) in objects:
        box = [min(max(int(round(x1)), 1), width), min(max(int(round(y1)), 1), height),
               min(max(int(round(x2)), 1), width), min(max(int(round(y2)), 1), height)]
        if box[2] <= box[0] or box[3] <= box[1]:
            warnings.warn(f'{xml_path}: box {[x1, y1, x2, y2]} of {name!r} is empty inside '
                          f'the {width}x{height} image; dropped')
            continue
        kept.append((name, difficult, truncated, box))
    return kept


def split_ids(ids, test_ratio, seed):
    """Seeded split: returns ``{id: 'trainval' | 'test'}``."""
    if not 0 < test_ratio < 1:
        raise ValueError(f'test_ratio={test_ratio} must be in (0, 1); e.g. --test-ratio 0.2')
    order = sorted(ids)
    random.Random(seed).shuffle(order)
    n_test = min(max(1, round(len(order) * test_ratio)), len(order) - 1)
    return {i: ('test' if k < n_test else 'trainval') for k, i in enumerate(order)}


def _write_lines(path, lines):
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        f.write(''.join(f'{line}\n' for line in lines))
    os.replace(tmp, path)


def convert(src, out, test_ratio=0.2, seed=0, classes=None, copy=False, resplit=False):
    """Convert ``src`` into a VOC layout under ``out``; returns a summary dict."""
    samples, given = find_samples(src)
    if not samples:
        raise ValueError(f'no image/XML pairs found in {src!r}')
    if osp.abspath(out) == osp.abspath(src):
        raise ValueError(f'out={out!r} must differ from src')
    for d in ('JPEGImages', 'Annotations', osp.join('ImageSets', 'Main')):
        os.makedirs(osp.join(out, d), exist_ok=True)
    kept, names, skipped, reencoded = [], set(), [], 0
    for image_id, img_path, xml_path in samples:
        info = check_image(img_path)
        if info is None:
            skipped.append(img_path)
            continue
        width, height, reencode = info
        objects = clip_objects(read_objects(xml_path), width, height, xml_path)
        if classes is not None:
            objects = [o for o in objects if o[0] in classes]
        dst = osp.join(out, 'JPEGImages', f'{image_id}.jpg')
        if osp.lexists(dst):
            os.remove(dst)
        if reencode:  # stored pixels, no EXIF tag, as JPEG
            with Image.open(img_path) as img:
                img.convert('RGB').save(dst, quality=95)
            reencoded += 1
        elif copy:
            shutil.copyfile(img_path, dst)
        else:
            os.symlink(osp.abspath(img_path), dst)
        write_xml(osp.join(out, 'Annotations', f'{image_id}.xml'), image_id, width, height,
                  objects)
        names.update(o[0] for o in objects)
        kept.append(image_id)
    if len(kept) < 2:
        raise ValueError(f'only {len(kept)} usable image(s) in {src!r}; need at least 2')
    split = ({i: given[i] for i in kept} if given is not None and not resplit else
             split_ids(kept, test_ratio, seed))
    for part in ('trainval', 'test'):
        _write_lines(osp.join(out, 'ImageSets', 'Main', f'{part}.txt'),
                     sorted(i for i in kept if split[i] == part))
    class_names = list(classes) if classes is not None else sorted(names)
    _write_lines(osp.join(out, 'classes.txt'), class_names)
    return dict(images=len(kept), skipped=skipped, reencoded=reencoded, classes=class_names,
                trainval=sum(v == 'trainval' for v in split.values()),
                test=sum(v == 'test' for v in split.values()))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='folder with images and Pascal-VOC XML files')
    parser.add_argument('out', help='output folder (VOC layout)')
    parser.add_argument('--test-ratio', type=float, default=0.2,
                        help='fraction of images in test.txt (default 0.2)')
    parser.add_argument('--seed', type=int, default=0, help='split seed (default 0)')
    parser.add_argument('--classes', nargs='+',
                        help='keep only these classes, in this order (default: all '
                        'names found, sorted)')
    parser.add_argument('--copy', action='store_true',
                        help='copy JPEGs instead of symlinking them')
    parser.add_argument('--resplit', action='store_true',
                        help='ignore given train/ test/ folders and split with --seed')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    summary = convert(args.src, args.out, args.test_ratio, args.seed, args.classes,
                      args.copy, args.resplit)
    print(f"{summary['images']} images ({summary['trainval']} trainval, "
          f"{summary['test']} test), {len(summary['skipped'])} skipped, "
          f"{summary['reencoded']} re-encoded, "
          f"classes: {' '.join(summary['classes'])} -> {args.out}")
    return summary


if __name__ == '__main__':
    sys.exit(0 if main() else 1)
