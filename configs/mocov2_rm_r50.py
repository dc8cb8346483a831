# MoCo v2-RM (Tobias paper, Table 5): the "random merge" ablation of
# ./mocov2_tobias_r50.py. With probability 0.3 the query keeps 8 random cells of the
# image and takes 8 random cells of another training image (a patch-level CutMix that
# ignores the Tobias masks). As in the released code, the mask file only provides the
# list of donor images, so the hook still makes it.
_base_ = './mocov2_tobias_r50.py'

mask_file = 'work_dirs/tobias_masks/mocov2_tobias_r50.tmask'

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

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='MultiView',
        num_views=[1, 1],
        transforms=[[
            dict(type='BackgroundSwap', prob=0.3, mode='random_merge', mask_file=mask_file),
            *view_pipeline
        ], view_pipeline]),
    dict(type='PackInputs')
]

train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
