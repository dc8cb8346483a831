# MoCo v2 + Tobias pretrained on CUB-200-2011 only (Tobias paper, Table 3).
_base_ = './mocov2_resnet50_8xb32-coslr-200e_cub.py'

input_size = 224
mask_file = 'work_dirs/tobias_masks/cub.tmask'

# MoCo v2 augmentations at the paper's input size, both views.
view_pipeline = [
    dict(
        type='RandomResizedCrop',
        scale=input_size,
        crop_ratio_range=(0.2, 1.),
        backend='pillow'),
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

# The transform acts on the decoded image, on the query view (view 0) only.
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='MultiView',
        num_views=[1, 1],
        transforms=[[
            dict(type='BackgroundSwap', prob=0.3, mode='swap', mask_file=mask_file),
            *view_pipeline
        ], view_pipeline]),
    dict(type='PackInputs')
]

train_dataloader = dict(dataset=dict(pipeline=train_pipeline))

custom_hooks = [dict(type='TobiasMaskGenerator', mask_file=mask_file, seed=0)]
