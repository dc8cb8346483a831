# SimCLR + Tobias (Tobias paper, Table 3), ResNet-50: mmpretrain's SimCLR (LARS,
# batch 16 x 256, cosine, 200 epochs) with the background swap (SPEC section 2) on view
# 0; the other view is the untouched image. Trains on any image folder:
#
#   python tools/train.py configs/simclr_tobias_r50.py \
#       --cfg-options train_dataloader.dataset.data_root=/path/to/images
#
# The backbone and the neck use SyncBN as in mmpretrain's SimCLR; several CPU processes
# (no CUDA) train with BN and per-process statistics instead, with a warning.
_base_ = 'mmpretrain::simclr/simclr_resnet50_16xb256-coslr-200e_in1k.py'

custom_imports = dict(imports=['mmtobias'], allow_failed_imports=False)

data_root = 'data/imagenet/train'
mask_file = 'work_dirs/tobias_masks/simclr_tobias_r50.tmask'
swap_prob = 0.3

# Decoding and packing as in ./mocov2_r50.py: unreadable files are skipped by name.
load_pipeline = [
    dict(type='SafeLoadImageFromFile', decoder='cv2', on_error='skip', truncated='skip')
]
pack_pipeline = [dict(type='PackInputs', algorithm_keys=['skipped_files'])]

# SimCLR augmentations (mmpretrain's simclr pipeline), applied to both views; the one
# copy of them (configs/tobias/simclr-* build on `_base_.view_pipeline`).
view_pipeline = [
    dict(type='RandomResizedCrop', scale=224, backend='pillow'),
    dict(type='RandomFlip', prob=0.5),
    dict(
        type='RandomApply',
        transforms=[
            dict(type='ColorJitter', brightness=0.8, contrast=0.8, saturation=0.8, hue=0.2)
        ],
        prob=0.8),
    dict(
        type='RandomGrayscale',
        prob=0.2,
        keep_channels=True,
        channel_weights=(0.114, 0.587, 0.2989)),
    dict(type='GaussianBlur', magnitude_range=(0.1, 2.0), magnitude_std='inf', prob=0.5),
]

train_pipeline = [
    *load_pipeline,
    dict(
        type='MultiView',
        num_views=[1, 1],
        transforms=[[
            dict(type='BackgroundSwap', prob=swap_prob, mode='swap', mask_file=mask_file),
            *view_pipeline
        ], view_pipeline]),
    *pack_pipeline,
]

train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='CustomDataset',
        data_root=data_root,
        data_prefix='',
        with_label=False,
        pipeline=train_pipeline))

custom_hooks = [
    dict(type='SkippedFilesLogger'),
    dict(type='TobiasMaskGenerator', mask_file=mask_file, seed=0)
]

auto_scale_lr = dict(base_batch_size=4096)
