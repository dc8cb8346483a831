# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""Draw InsLoc training samples: the image, its query and key composites.

Each row of the PNG grid is one sample: the source image (resized), the query
view with its paste box (green) and the anchor box the model pools instead on
the box-augmented level (orange), and the key view with its paste box.
The views are the pipeline's output before ``PackInputs`` (colour jitter,
blur and flip included).

Example::

    python tools/visualize_insloc.py configs/insloc_r50-c4.py \\
        --data-root ../shared/data/kangaroo/images --num 6 \\
        --out work_dirs/insloc_samples.png
"""
import argparse
import os.path as osp

import cv2
import mmcv
import numpy as np
import torch
from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope

GREEN, ORANGE, WHITE = (0, 200, 0), (0, 140, 255), (255, 255, 255)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='an InsLoc training config')
    parser.add_argument('--data-root', help='override the dataset data_root')
    parser.add_argument('--num', type=int, default=6, help='samples (rows)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--out', default='work_dirs/insloc_samples.png', help='output PNG')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings, as in tools/train.py')
    return parser.parse_args()


def build_sample_dataset(cfg):
    """The train dataset with its pipeline cut before ``PackInputs``."""
    from mmpretrain.registry import DATASETS
    ds_cfg = cfg.train_dataloader.dataset.copy()
    pipeline = list(ds_cfg.pipeline)
    types = [t['type'] for t in pipeline]
    if 'InsLocComposite' not in types:
        raise ValueError(f'{cfg.filename}: the train pipeline has no '
                         'InsLocComposite; give an InsLoc config.')
    if 'PackInputs' in types:
        pipeline = pipeline[:types.index('PackInputs')]
    ds_cfg.pipeline = pipeline
    return DATASETS.build(ds_cfg)


def draw_box(img, box, colour, label=None):
    x1, y1, x2, y2 = [int(round(float(v))) for v in box]
    cv2.rectangle(img, (x1, y1), (x2 - 1, y2 - 1), colour, 2)
    if label:
        cv2.putText(img, label, (x1 + 3, max(12, y1 + 14)),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, 1, cv2.LINE_AA)


def caption(img, text):
    cv2.putText(img, text, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, WHITE, 2,
                cv2.LINE_AA)
    cv2.putText(img, text, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                (0, 0, 0), 1, cv2.LINE_AA)


def render(cfg, num, seed):
    """Rows of ``[image, query, key]`` as one BGR uint8 array."""
    from mmtobias.models.selfsup import AnchorBoxAugment
    dataset = build_sample_dataset(cfg)
    model_cfg = cfg.get('model', {})
    box_aug = AnchorBoxAugment(**(model_cfg.get('bbox_aug') or {}))
    use_aug = bool(model_cfg.get('bbox_aug_levels', (-1, )))
    np.random.seed(seed)
    torch.manual_seed(seed)
    rows = []
    for idx in np.random.permutation(len(dataset))[:num]:
        results = dataset[int(idx)]
        query, key = [np.ascontiguousarray(v).copy() for v in results['img']]
        box_q, box_k = results['gt_bboxes'][:2]
        size = query.shape[0]
        src = mmcv.imresize(mmcv.imread(results['img_path']), (size, size))
        draw_box(query, box_q, GREEN, 'gt')
        if use_aug:
            aug = box_aug(torch.as_tensor(box_q)[None], query.shape[:2])[0]
            draw_box(query, aug.numpy(), ORANGE, 'aug')
        draw_box(key, box_k, GREEN, 'gt')
        caption(src, osp.basename(results['img_path'])[:28])
        caption(query, 'query')
        caption(key, 'key')
        rows.append(np.concatenate([src, query, key], axis=1))
    return np.concatenate(rows, axis=0)


def main():
    args = parse_args()
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    if args.data_root:
        cfg.train_dataloader.dataset.data_root = args.data_root
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    import mmtobias  # noqa: F401  (registers the InsLoc components)
    grid = render(cfg, args.num, args.seed)
    mmcv.imwrite(grid, args.out)  # creates the folder
    print(f'wrote {args.out} ({grid.shape[1]}x{grid.shape[0]})')


if __name__ == '__main__':
    main()
