# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""Quick SCDA localization (CorLoc) of a random or pretrained CNN on a folder.

Examples::

    # random R-50 (Kaiming), 3 seeds, images + VOC-style XML folders
    python tools/eval_localization.py --images ../shared/data/kangaroo/images \
        --annotations ../shared/data/kangaroo/annots --seeds 3
    # uniform(-0.1, 0.1) init, overlays of the first 16 images
    python tools/eval_localization.py --images DIR --annotations DIR \
        --config configs/scda_localization/scda_r50_uniform_kangaroo.py \
        --vis-dir work_dirs/scda_vis
    # COCO-format json instead of an XML folder
    python tools/eval_localization.py --images val2017 \
        --annotations instances_val2017.json

The model / protocol come from ``--config`` (default: the SPEC section 5
R-50); the dataset of the config is replaced by the given folders. The last
line printed is machine-readable::

    corloc=X.X±Y.Y whole_image=Z.Z micro=... miou=... images=N invalid=K ...
"""
import argparse
import os.path as osp
import time

from mmengine.config import Config, DictAction
from mmengine.runner import Runner

import mmtobias  # noqa: F401  (compatibility fixes + registration)

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEFAULT_CONFIG = osp.join(REPO, 'configs', 'scda_localization',
                          'scda_r50_kaiming_kangaroo.py')


def parse_args():
    parser = argparse.ArgumentParser(
        description='SCDA localization (CorLoc) on an image folder')
    parser.add_argument('--images', required=True, help='image folder')
    parser.add_argument(
        '--annotations', required=True,
        help='folder of VOC-style XML files (matched to images by name), or '
        'a COCO-format json file')
    parser.add_argument('--config', default=DEFAULT_CONFIG,
                        help='localization config (model and protocol)')
    parser.add_argument(
        '--seeds', type=int, default=None,
        help='evaluate seeds 0..N-1 and report mean±std (default: the '
        "config's model.seeds)")
    parser.add_argument('--batch-size', type=int, default=None)
    parser.add_argument('--workers', type=int, default=None)
    parser.add_argument(
        '--invalid', choices=['evaluate', 'miss', 'skip'], default=None,
        help='how images that do not decode fully count (default: the '
        "config's, 'evaluate': score the decodable part)")
    parser.add_argument('--vis-dir', default=None,
                        help='write heatmap + box overlays (PNG) here')
    parser.add_argument('--num-vis', type=int, default=16)
    parser.add_argument('--work-dir', default=None)
    parser.add_argument('--verbose', action='store_true',
                        help='show the full Runner log')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    return parser.parse_args()


def build_cfg(args) -> Config:
    cfg = Config.fromfile(args.config)
    for name, path in (('--images', args.images),
                       ('--annotations', args.annotations)):
        if not osp.exists(path):
            raise FileNotFoundError(f'{name} {path} does not exist.')
    pipeline = cfg.test_dataloader.dataset.pipeline
    if osp.isfile(args.annotations):
        if not args.annotations.endswith('.json'):
            raise ValueError(f'--annotations {args.annotations} is a file but '
                             f'not a COCO json; give a folder of XML files '
                             f'or a .json file.')
        dataset = dict(type='COCOBoxDataset', ann_file=args.annotations,
                       data_prefix=dict(img_path=args.images))
    else:
        dataset = dict(type='XMLFolderBoxDataset',
                       data_prefix=dict(img_path=args.images,
                                        ann_path=args.annotations))
    cfg.test_dataloader.dataset = dict(dataset, pipeline=pipeline)
    if args.seeds is not None:
        if args.seeds < 1:
            raise ValueError(f'--seeds {args.seeds} must be >= 1.')
        cfg.model.seeds = list(range(args.seeds))
    if args.batch_size is not None:
        cfg.test_dataloader.batch_size = args.batch_size
    if args.workers is not None:
        cfg.test_dataloader.num_workers = args.workers
    if args.invalid is not None:
        cfg.test_evaluator.invalid = args.invalid
    if args.vis_dir is not None:
        cfg.test_evaluator.vis_dir = args.vis_dir
        cfg.test_evaluator.num_vis = args.num_vis
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    cfg.work_dir = args.work_dir or osp.join('work_dirs', 'eval_localization')
    if not args.verbose:
        cfg.log_level = 'WARNING'
    return cfg


def format_summary(metrics: dict, seconds: float) -> str:
    """The machine-readable last line."""
    m = {k.split('/')[-1]: v for k, v in metrics.items()}
    n = int(m['num_images'])
    return (f"corloc={m['corloc']:.1f}±{m['corloc_std']:.1f} "
            f"whole_image={m['whole_image']:.1f} "
            f"micro={m['corloc_micro']:.1f}±{m['corloc_micro_std']:.1f} "
            f"miou={m['mean_iou']:.1f}±{m['mean_iou_std']:.1f} "
            f"images={n} invalid={int(m['num_invalid'])} "
            f"seeds={int(m['num_seeds'])} img/s={n / seconds:.2f}")


def main():
    args = parse_args()
    cfg = build_cfg(args)
    runner = Runner.from_cfg(cfg)
    start = time.perf_counter()
    metrics = runner.test()
    seconds = time.perf_counter() - start
    print(format_summary(metrics, seconds), flush=True)


if __name__ == '__main__':
    main()
