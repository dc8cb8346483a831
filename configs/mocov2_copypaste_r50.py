# MoCo v2 + copy-paste backgrounds (Distilling Localization, Zhao et al. 2021, §5.2;
# SPEC section 3) with the Tobias map as the saliency source: with probability 0.3 the
# foreground of the upsampled Tobias map is pasted on a uniform random gray level, hard
# or Gaussian-blended (kernel 5) with probability 0.5. Each view composites
# independently, before the other augmentations.
#
# External saliency maps (a folder mirroring the images, e.g. RBD or BASNet PNGs):
#   dict(type='CopyPaste', saliency='folder', saliency_dir='data/saliency',
#        data_root='data/imagenet/train')  (no mask file / hook needed)
# Other backgrounds: background='texture', texture_dir=... or background='dataset'.
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

copy_paste = dict(
    type='CopyPaste',
    prob=0.3,
    saliency='tobias',
    mask_file=mask_file,
    background='gray',
    blend='mix',
    blend_prob=0.5,
    blur_kernel=5)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='MultiView',
        num_views=2,
        transforms=[[copy_paste, *view_pipeline]]),
    dict(type='PackInputs')
]

train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
