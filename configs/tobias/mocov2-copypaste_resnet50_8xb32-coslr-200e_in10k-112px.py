# MoCo v2 + copy-paste backgrounds (Distilling Localization §5.2) on IN-10k with the
# paper's subset settings; saliency from the Tobias maps, random gray backgrounds,
# hard / Gaussian-blended paste ("mix"), p = 0.3, each view independently.
_base_ = './mocov2-tobias_resnet50_8xb32-coslr-200e_in10k-112px.py'

input_size = 112
mask_file = 'work_dirs/tobias_masks/in10k.tmask'

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

copy_paste = dict(
    type='CopyPaste', prob=0.3, saliency='tobias', mask_file=mask_file, background='gray',
    blend='mix')

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='MultiView', num_views=2, transforms=[[copy_paste, *view_pipeline]]),
    dict(type='PackInputs')
]

train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
