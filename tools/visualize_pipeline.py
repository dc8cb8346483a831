# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""Draw what a Tobias pretraining config feeds the model, like browse_dataset.

One row per sample: image A | donor B | A after the background transform
(before the other augmentations) | the query view | the key view, written as
one PNG grid. Works with any config whose train pipeline is
``LoadImageFromFile -> MultiView -> PackInputs`` with ``BackgroundSwap`` or
``CopyPaste`` first in view 0 (also the baselines: then columns 2-3 are A).

    python tools/visualize_pipeline.py configs/mocov2_tobias_r50.py \\
        --cfg-options train_dataloader.dataset.data_root=demo/images --num 8

Missing masks are made first with the config's ``TobiasMaskGenerator`` hook
(as training would). ``--prob 1`` (default) applies the transform to every
row; ``--prob config`` keeps the configured probability.
"""
import argparse
import os
import os.path as osp
import sys
from types import SimpleNamespace

import numpy as np
from mmengine.config import Config, DictAction
from mmengine.logging import MMLogger
from mmengine.registry import init_default_scope
from PIL import Image, ImageDraw

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
import mmtobias  # noqa: E402,F401
from mmpretrain.registry import DATASETS, HOOKS  # noqa: E402

COLUMNS = ('A (image)', 'donor B', 'A after transform', 'query view',
           'key view')


def make_masks_with_hook(cfg, dataset):
    """Run the config's TobiasMaskGenerator hooks (no-op when up to date)."""
    logger = MMLogger.get_current_instance()
    for hook_cfg in cfg.get('custom_hooks', []):
        if hook_cfg.get('type') == 'TobiasMaskGenerator':
            hook = HOOKS.build(hook_cfg)
            # what the hook reads of a Runner; no train loop runs here
            fake_runner = SimpleNamespace(
                cfg=cfg, train_dataloader=SimpleNamespace(dataset=dataset),
                train_loop=SimpleNamespace(), logger=logger)
            hook.before_train(fake_runner)


def _split_pipeline(pipeline):
    """(loader, view pipelines [query, key], background transform or None)."""
    loader, multiview = pipeline.transforms[0], pipeline.transforms[1]
    if type(multiview).__name__ != 'MultiView':
        raise ValueError('visualize_pipeline expects the train pipeline '
                         'LoadImageFromFile -> MultiView -> PackInputs, got '
                         f'{type(multiview).__name__} second.')
    views = multiview.transforms[:2]
    first = views[0].transforms[0] if views[0].transforms else None
    if type(first).__name__ in ('BackgroundSwap', 'CopyPaste'):
        return loader, views, first
    return loader, views, None


def _tile(img, size, bgr=True):
    if img is None:
        return Image.new('RGB', (size, size), (235, 235, 235))
    arr = img[..., ::-1] if bgr and img.ndim == 3 else img
    if hasattr(arr, 'numpy'):  # a packed tensor C x H x W
        arr = arr.numpy().transpose(1, 2, 0)[..., ::-1]
    return Image.fromarray(np.ascontiguousarray(arr).astype(np.uint8)).resize(
        (size, size), Image.BILINEAR)


def visualize(cfg, out_file, num=8, seed=0, prob=1.0, tile=160):
    """Write the grid PNG; returns ``out_file``."""
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    make_masks_with_hook(cfg, dataset)  # also points the pipeline at the mask file
    loader, (query_pipe, key_pipe), background = _split_pipeline(dataset.pipeline)
    if background is not None and prob != 'config':
        background.prob = float(prob)
    rest = query_pipe.transforms[1:] if background is not None \
        else query_pipe.transforms
    rng = np.random.RandomState(seed)
    np.random.seed(seed)
    idx = rng.choice(len(dataset), size=min(num, len(dataset)), replace=False)
    rows = []
    for i in idx:
        results = loader(dict(dataset.get_data_info(int(i))))
        a = results['img'].copy()
        mixed = dict(results, img=a.copy())
        donor = None
        if background is not None:
            mixed = background(mixed)
            path = mixed.get('swap_donor_path')
            if path:
                donor = np.asarray(Image.open(path).convert('RGB'))[..., ::-1]
        query = dict(mixed, img=mixed['img'].copy())
        for t in rest:
            query = t(query)
        key = key_pipe(dict(results, img=a.copy()))
        rows.append((osp.basename(results['img_path']),
                     [a, donor, mixed['img'], query['img'], key['img']]))
    pad, head = 6, 18
    width = len(COLUMNS) * (tile + pad) + pad
    canvas = Image.new('RGB', (width, head + len(rows) * (tile + head)),
                       'white')
    draw = ImageDraw.Draw(canvas)
    for c, name in enumerate(COLUMNS):
        draw.text((pad + c * (tile + pad), 3), name, fill=(0, 0, 0))
    for r, (name, imgs) in enumerate(rows):
        y = head + r * (tile + head)
        draw.text((pad, y + 2), name, fill=(80, 80, 80))
        for c, img in enumerate(imgs):
            canvas.paste(_tile(img, tile), (pad + c * (tile + pad), y + 16))
    os.makedirs(osp.dirname(osp.abspath(out_file)), exist_ok=True)
    canvas.save(out_file)
    return out_file


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('--out', help='PNG file (default: work_dirs/'
                        'visualize_pipeline/<config name>.png)')
    parser.add_argument('--num', type=int, default=8, help='rows (samples)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--prob', default='1.0',
                        help="transform probability for the picture, or "
                        "'config' to keep the configured one")
    parser.add_argument('--tile', type=int, default=160, help='tile size')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, as in tools/train.py')
    args = parser.parse_args()
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    name = osp.splitext(osp.basename(args.config))[0]
    out = args.out or osp.join('work_dirs', 'visualize_pipeline', name + '.png')
    prob = args.prob if args.prob == 'config' else float(args.prob)
    visualize(cfg, out, args.num, args.seed, prob, args.tile)
    print(f'{args.num} samples drawn: {out}')


if __name__ == '__main__':
    main()
