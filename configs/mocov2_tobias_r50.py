# MoCo v2 + Tobias (Cao & Wu, AAAI 2022), ResNet-50: the MoCo v2 baseline of
# ./mocov2_r50.py with the background swap (SPEC section 2) on the query view.
#
# The TobiasMaskGenerator hook writes the random-CNN masks of the training images to
# `mask_file` before the first iteration (nothing to do when the file already matches
# the dataset); BackgroundSwap reads the same file lazily in every DataLoader worker.
#
#   python tools/train.py configs/mocov2_tobias_r50.py \
#       --cfg-options train_dataloader.dataset.data_root=/path/to/images
#
# One mask file per dataset: to keep masks of several datasets, give each run its own
# file (the hook regenerates a file that does not match the training images).
_base_ = './mocov2_r50.py'

mask_file = 'work_dirs/tobias_masks/mocov2_tobias_r50.tmask'
swap_prob = 0.3  # the paper's p, never tuned (Table 6: 0 / 0.3 / 0.5 / 0.7 / 1.0)

# MoCo v2 augmentations (mmpretrain's mocov2 pipeline), applied to both views.
view_pipeline = [
    dict(type='RandomResizedCrop', scale=224, crop_ratio_range=(0.2, 1.), backend='pillow'),
    dict(
        type='RandomApply',
        transforms=[
            dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1)
        ],
        prob=0.8),
    dict(
        type='RandomGrayscale',
        prob=0.2,
        keep_channels=True,
        channel_weights=(0.114, 0.587, 0.2989)),
    dict(type='GaussianBlur', magnitude_range=(0.1, 2.0), magnitude_std='inf', prob=0.5),
    dict(type='RandomFlip', prob=0.5),
]

# The swap acts on the decoded image before every other augmentation, on the query
# view only (view 0 = inputs[0] = MoCo's query); the key view is the untouched image.
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='MultiView',
        num_views=[1, 1],
        transforms=[[
            dict(type='BackgroundSwap', prob=swap_prob, mode='swap', mask_file=mask_file),
            *view_pipeline
        ], view_pipeline]),
    dict(type='PackInputs')
]

train_dataloader = dict(dataset=dict(pipeline=train_pipeline))

custom_hooks = [dict(type='TobiasMaskGenerator', mask_file=mask_file, seed=0)]
