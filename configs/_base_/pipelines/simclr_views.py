# The SimCLR views (mmpretrain's simclr pipeline): the one copy of these augmentations
# in the repository (configs/simclr_tobias_r50.py and configs/tobias/simclr-* use it).
# Prefixed for the reason given in ./mocov2_views.py; a config copies it with
# `view_pipeline = _base_.simclr_view_pipeline`.
simclr_view_pipeline = [
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
