# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""Convert a MoCo / Tobias / InsLoc checkpoint into an mmdet detector checkpoint.

Accepts mmtobias, mmpretrain and mmselfsup checkpoints (``backbone.*``), the released
PyTorch MoCo / Tobias files (``module.encoder_q.*``) and bare ResNet state dicts; see
:mod:`mmtobias.det.checkpoint_converter` for the key maps. Loaded with
``weights_only=True``.

Examples::

    python tools/model_converters/ssl_to_mmdet.py work_dirs/tobias/epoch_200.pth \\
        work_dirs/tobias/det_c4.pth --arch c4
    python tools/model_converters/ssl_to_mmdet.py moco_v2_800ep_pretrain.pth.tar \\
        moco_fpn.pth --arch fpn

Use the output with ``model.init_cfg=dict(type='Pretrained', checkpoint=OUT)`` in any
mmdet config of the matching layout, or let ``tools/det_train.py`` do all of this.
"""
import argparse

from mmtobias.det.checkpoint_converter import ARCHS, convert_checkpoint


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='self-supervised checkpoint')
    parser.add_argument('dst', help='output mmdet checkpoint')
    parser.add_argument('--arch', choices=ARCHS, required=True,
                        help='detector layout: c4 (res5 shared head) or fpn')
    args = parser.parse_args(argv)
    report = convert_checkpoint(args.src, args.dst, args.arch)
    print(f"{args.src} ({report['format']} format) -> {args.dst} ({args.arch})")
    for prefix, n in sorted(report['converted'].items()):
        print(f'  converted {n:4d} tensors into {prefix}.*')
    for prefix, n in sorted(report['dropped'].items()):
        print(f'  dropped   {n:4d} tensors of  {prefix}.*')


if __name__ == '__main__':
    main()
