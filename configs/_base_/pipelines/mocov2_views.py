# The MoCo v2 views ("aug+", mmpretrain's mocov2 pipeline, SPEC section 2): the one copy
# of these augmentations in the repository. Every MoCo v2 config (baseline, Tobias, its
# ablations, copy-paste, the paper-settings configs in configs/tobias/) and InsLoc
# (./insloc_views.py: the same views without the crop) build their views from it.
#
# The name is prefixed because mmpretrain's own configs, which our configs also inherit,
# already define `view_pipeline` (mmengine forbids a key in two bases); a config copies
# it with `view_pipeline = _base_.mocov2_view_pipeline`.
mocov2_view_pipeline = [
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
