# MoCo v2-Mixup (Tobias paper, Table 5): with probability 0.3 the query is
# lam * image + (1 - lam) * another training image, lam ~ Beta(1, 1) (the released code
# has no Mixup; SPEC section 2). The mask file only provides the donor list.
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
            dict(
                type='BackgroundSwap',
                prob=0.3,
                mode='mixup',
                mixup_alpha=1.0,
                mask_file=mask_file), *view_pipeline
        ], view_pipeline]),
    dict(type='PackInputs')
]

train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
