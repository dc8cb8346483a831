# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""Background sensitivity of a backbone on a box dataset (images + VOC XML or COCO json).

    # a pretrained checkpoint (mmpretrain / mmselfsup / mmtobias, the released
    # PyTorch MoCo file, or a bare ResNet state dict)
    python tools/background_sensitivity.py --images ../shared/data/kangaroo/images \
        --annotations ../shared/data/kangaroo/annots --checkpoint CKPT --depth 50 \
        --out work_dirs/bg_sensitivity.json
    # random init (seeded), XML files beside the images, a COCO json
    python tools/background_sensitivity.py --images ../shared/data/cards/test \
        --annotations ../shared/data/cards/test --depth 18
    python tools/background_sensitivity.py --images val2017 \
        --annotations instances_val2017.json

For every image: the cosine similarity of the pooled features of the image and of the
image with (a) the background (outside its boxes) or (b) the objects (inside) replaced
by a seeded donor image's pixels; see :mod:`mmtobias.evaluation.background_sensitivity`.
The last line printed is machine-readable::

    bg_swap=M±S fg_swap=M±S bg_minus_fg=M±S images=N skipped=K
"""
import argparse
import json
import os
import os.path as osp
import sys

import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
import mmtobias  # noqa: E402,F401  (compatibility fixes + registration)
from mmtobias.det.checkpoint_converter import (detect_format,  # noqa: E402
                                               load_state_dict)
from mmtobias.evaluation import (background_sensitivity,  # noqa: E402
                                 load_box_samples)

_PREFIXES = dict(openmmlab=('backbone.', ),
                 moco=('module.encoder_q.', 'encoder_q.'), backbone=('', ))


def backbone_state(path: str) -> dict:
    """The ResNet weights of a checkpoint, with mmpretrain ResNet names."""
    state = load_state_dict(path)
    prefixes = _PREFIXES[detect_format(state)]
    out = {}
    for key, value in state.items():
        for prefix in prefixes:
            if key.startswith(prefix):
                out[key[len(prefix):]] = value
                break
    # the released MoCo files keep their MLP as fc.*: not part of the trunk
    return {k: v for k, v in out.items() if not k.startswith('fc.')}


def build_backbone(depth: int, checkpoint=None, init_seed: int = 0):
    """An mmpretrain ResNet (seeded init), with the checkpoint's weights."""
    from mmengine.logging import MMLogger
    from mmpretrain.registry import MODELS

    torch.manual_seed(init_seed)
    backbone = MODELS.build(dict(type='ResNet', depth=depth))
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel('WARNING')  # init_weights logs one line per parameter
    backbone.init_weights()
    logger.setLevel(level)
    if checkpoint:
        state = backbone_state(checkpoint)
        missing, unexpected = backbone.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise ValueError(
                f'{checkpoint}: its backbone weights do not fit a ResNet-'
                f'{depth} (missing {missing[:3]}, unexpected '
                f'{unexpected[:3]}); pass the matching --depth.')
    backbone.eval()  # mmpretrain's ResNet.train() returns None: do not chain
    return backbone


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--images', required=True, help='image folder')
    p.add_argument('--annotations', required=True,
                   help='folder of VOC-style XML files (matched to the images '
                   'by name; may be the image folder) or a COCO-format json')
    p.add_argument('--checkpoint', default=None,
                   help='pretrained weights (random init when omitted)')
    p.add_argument('--depth', type=int, default=50, help='ResNet depth')
    p.add_argument('--size', type=int, default=224,
                   help='images and donors are resized to SIZE x SIZE')
    p.add_argument('--seed', type=int, default=0, help='seed of the donors')
    p.add_argument('--init-seed', type=int, default=0,
                   help='seed of the random init (without --checkpoint)')
    p.add_argument('--batch-size', type=int, default=16)
    p.add_argument('--threads', type=int, default=None,
                   help='torch CPU threads (default: torch\'s choice)')
    p.add_argument('--device', default=None,
                   help="'cpu', 'cuda', ... (default: cuda when available)")
    p.add_argument('--out', default=None, help='write the result JSON here')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    for name, path in (('--images', args.images),
                       ('--annotations', args.annotations)):
        if not osp.exists(path):
            raise FileNotFoundError(f'{name} {path} does not exist.')
    if args.threads:
        torch.set_num_threads(args.threads)
    device = args.device or ('cuda' if torch.cuda.is_available() else 'cpu')
    backbone = build_backbone(args.depth, args.checkpoint, args.init_seed)
    backbone.to(device)
    samples = load_box_samples(args.images, args.annotations)
    result = background_sensitivity(backbone, samples, size=args.size,
                                    seed=args.seed,
                                    batch_size=args.batch_size)
    result.update(checkpoint=args.checkpoint, depth=args.depth,
                  init_seed=None if args.checkpoint else args.init_seed,
                  images_dir=args.images, annotations=args.annotations)
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            json.dump(result, f, indent=1)
    line = ' '.join(f"{k}={result[k]['mean']:.4f}±{result[k]['std']:.4f}"
                    for k in ('bg_swap', 'fg_swap', 'bg_minus_fg'))
    print(f"{line} images={result['images']} "
          f"skipped={len(result['skipped'])}", flush=True)
    return result


if __name__ == '__main__':
    main()
