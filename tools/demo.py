# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""mmtobias in one command, on CPU, on images shipped with the repository.

    python tools/demo.py

1. the demo images: ``demo/images`` (32 synthetic object-on-background JPEGs
   drawn by ``tools/make_demo_images.py``, CC0; regenerated if missing);
2. the Tobias masks of a random ResNet-50, made by the config's
   ``TobiasMaskGenerator`` hook, and their pictures (``tools/visualize_masks.py``);
3. a picture of the MoCo v2 + Tobias pipeline (``tools/visualize_pipeline.py``):
   image, donor, swapped image, query view, key view;
4. a short MoCo v2 + Tobias pretraining of ResNet-50 (``configs/mocov2_tobias_r50.py``
   through the MMEngine Runner, 64 px input, one epoch = 4 iterations).

Everything goes to ``work_dirs/demo`` (``--work-dir``); the paths are printed at
the end. Takes about a minute on a laptop CPU.
"""
import argparse
import glob
import os.path as osp
import subprocess
import sys
import time

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, osp.join(REPO, 'tools'))

from mmengine.config import Config  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

import mmtobias  # noqa: E402,F401
from make_demo_images import make_demo_images  # noqa: E402
from visualize_pipeline import visualize  # noqa: E402


def _replace(obj, key, value):
    """Set every ``key`` in nested dicts / lists to ``value``."""
    if isinstance(obj, dict):
        for k in obj:
            if k == key:
                obj[k] = value
            else:
                _replace(obj[k], key, value)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            _replace(v, key, value)


def demo_config(images, work_dir, input_size=64, batch_size=8):
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'mocov2_tobias_r50.py'))
    mask_file = osp.join(work_dir, 'masks.tmask')
    _replace(cfg._cfg_dict, 'mask_file', mask_file)
    dataset = cfg.train_dataloader.dataset
    dataset.data_root = images
    for view in dataset.pipeline[1]['transforms']:
        for t in view:
            if t['type'] == 'RandomResizedCrop':
                t['scale'] = input_size
    cfg.train_dataloader.update(batch_size=batch_size, num_workers=2,
                                persistent_workers=True)
    cfg.train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=1)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    cfg.default_hooks.checkpoint = dict(
        type='CheckpointHook', interval=1, save_optimizer=False)
    cfg.work_dir = osp.join(work_dir, 'pretrain')
    cfg.randomness = dict(seed=0)
    cfg.launcher = 'none'
    return cfg, mask_file


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--work-dir', default=osp.join('work_dirs', 'demo'))
    parser.add_argument('--images', default=osp.join(REPO, 'demo', 'images'),
                        help='image folder (default: the shipped demo images)')
    args = parser.parse_args()
    start = time.time()
    work_dir = osp.abspath(args.work_dir)
    images = osp.abspath(args.images)
    if not glob.glob(osp.join(images, '**', '*.jpg'), recursive=True):
        make_demo_images(images)
        print(f'[1/4] generated the demo images in {images}')
    else:
        print(f'[1/4] demo images: {images}')

    cfg, mask_file = demo_config(images, work_dir)
    # The pipeline picture runs the config's TobiasMaskGenerator hook first,
    # exactly as training does (before_train), so the masks exist after it.
    grid = visualize(cfg, osp.join(work_dir, 'pipeline.png'), num=8)
    print(f'[2/4] Tobias masks (random ResNet-50, seed 0): {mask_file}')
    mask_vis = osp.join(work_dir, 'masks')
    subprocess.run([sys.executable, osp.join(REPO, 'tools',
                                             'visualize_masks.py'),
                    mask_file, '--out-dir', mask_vis, '--num', '8'],
                   check=True)
    print(f'[3/4] pictures: {grid} and {mask_vis}/overview.png')

    runner = Runner.from_cfg(cfg)
    runner.train()  # the hook finds the masks up to date and does nothing
    ckpt = osp.join(cfg.work_dir, 'epoch_1.pth')
    print(f'[4/4] pretrained {runner.iter} iterations of MoCo v2 + Tobias '
          f'(ResNet-50, {len(runner.train_dataloader.dataset)} images, 64 px)')
    print('\nDone in {:.0f} s. Outputs:'.format(time.time() - start))
    for name, path in (('images', images), ('masks', mask_file),
                       ('mask pictures', mask_vis),
                       ('pipeline picture', grid),
                       ('training log', osp.join(cfg.work_dir, runner.timestamp)),
                       ('checkpoint', ckpt)):
        print(f'  {name:17s} {path}')
    print('\nNext: python tools/train.py configs/mocov2_tobias_r50.py '
          '--cfg-options train_dataloader.dataset.data_root=YOUR_IMAGES')


if __name__ == '__main__':
    main()
