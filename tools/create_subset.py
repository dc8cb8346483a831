# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""Build a label-free random subset of an image folder (IN-10k/50k/100k).

The Tobias paper pretrains on ImageNet subsets sampled "without using any
image label": ``--num`` images drawn uniformly (seeded) from every image under
SRC, whatever the class folders. The class/file layout is kept so that
relative paths (and Tobias mask keys) stay the ones of the full set.

    # a symlink tree, used as data_root by configs/tobias/*_in10k-112px.py
    python tools/create_subset.py data/imagenet/train data/imagenet/in10k --num 10000
    # or a file list for CustomDataset(ann_file=..., with_label=False)
    python tools/create_subset.py data/imagenet/train data/imagenet/in10k.txt \\
        --num 10000 --format list

The same SRC, --num and --seed always give the same subset; an existing,
identical output is left alone, a different one is an error (use --force).
"""
import argparse
import os
import os.path as osp
import sys

import numpy as np

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from mmtobias.scda.image_list import scan_images  # noqa: E402


def sample_subset(src, num, seed=0):
    """``num`` relative paths drawn without replacement, sorted."""
    paths = scan_images(src)
    if not 0 < num <= len(paths):
        raise ValueError(f'--num {num}: SRC {src} holds {len(paths)} images; '
                         f'ask for 1..{len(paths)}.')
    rng = np.random.RandomState(seed)
    chosen = rng.choice(len(paths), size=num, replace=False)
    root = osp.abspath(src)
    return sorted(osp.relpath(paths[i], root).replace(os.sep, '/')
                  for i in chosen)


def write_list(rels, out, force):
    text = ''.join(r + '\n' for r in rels)
    if osp.exists(out) and not force:
        with open(out) as f:
            if f.read() == text:
                return 'unchanged'
        raise FileExistsError(f'{out} exists with another list; pass --force '
                              f'to overwrite it.')
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    tmp = out + '.tmp'
    with open(tmp, 'w') as f:
        f.write(text)
    os.replace(tmp, out)  # never a half-written list
    return 'written'


def write_tree(rels, src, out, force):
    if osp.isdir(out) and os.listdir(out):
        try:
            existing = scan_images(out)
        except ValueError:  # no images in it
            existing = []
        want = sorted(osp.normpath(osp.join(osp.abspath(out), r))
                      for r in rels)
        if existing == want:
            return 'unchanged'
        if not force:
            raise FileExistsError(f'{out} exists and is not this subset; pass '
                                  f'--force to add/replace links, or choose '
                                  f'another OUT.')
    for rel in rels:
        dst = osp.join(out, rel)
        os.makedirs(osp.dirname(dst), exist_ok=True)
        if osp.lexists(dst):
            os.remove(dst)
        os.symlink(osp.join(osp.abspath(src), rel), dst)
    return 'written'


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='image folder (e.g. data/imagenet/train)')
    parser.add_argument('out', help='output folder (tree) or .txt (list)')
    parser.add_argument('--num', type=int, required=True,
                        help='number of images, e.g. 10000')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--format', choices=('tree', 'list'), default='tree',
                        help='symlink tree (default) or a file list')
    parser.add_argument('--force', action='store_true')
    args = parser.parse_args(argv)

    rels = sample_subset(args.src, args.num, args.seed)
    if args.format == 'list':
        state = write_list(rels, args.out, args.force)
        hint = (f"CustomDataset(data_root='{args.src}', "
                f"ann_file='{osp.abspath(args.out)}', with_label=False)")
    else:
        state = write_tree(rels, args.src, args.out, args.force)
        hint = f'train_dataloader.dataset.data_root={args.out}'
    print(f'{len(rels)} of the images under {args.src} (seed {args.seed}): '
          f'{args.out} {state}. Use it with {hint}')


if __name__ == '__main__':
    main()
