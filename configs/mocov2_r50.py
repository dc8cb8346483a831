# MoCo v2, ResNet-50: the baseline every foreground-aware config is compared to.
# Same model, schedule and two-view pipeline as mmpretrain's
# mocov2_resnet50_8xb32-coslr-200e_in1k; the only change is the dataset, which reads
# any folder of images (ImageNet train layout or flat, labels ignored), so one override
# trains on your data:
#
#   python tools/train.py configs/mocov2_r50.py \
#       --cfg-options train_dataloader.dataset.data_root=/path/to/images
#
# This file holds the one copy of the MoCo v2 view pipeline in the repository: every
# MoCo v2 config (Tobias, its ablations, copy-paste, the paper-settings configs in
# configs/tobias/) builds its views from `_base_.view_pipeline` and its loading step
# from `_base_.load_pipeline`, so an augmentation change is one edit here.
_base_ = 'mmpretrain::mocov2/mocov2_resnet50_8xb32-coslr-200e_in1k.py'

custom_imports = dict(imports=['mmtobias'], allow_failed_imports=False)

data_root = 'data/imagenet/train'

# Decoding as LoadImageFromFile does (same pixels, EXIF orientation), except that a file
# that does not decode (empty, not an image, truncated) is named once with the reason
# and another sample is drawn, so one broken file cannot stop a run.
load_pipeline = [
    dict(type='SafeLoadImageFromFile', decoder='cv2', on_error='skip', truncated='skip')
]
# PackInputs carries the skipped paths to SkippedFilesLogger (the count per epoch).
pack_pipeline = [dict(type='PackInputs', algorithm_keys=['skipped_files'])]

# MoCo v2 augmentations (mmpretrain's mocov2 pipeline, SPEC section 2), both views.
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
    *load_pipeline,
    dict(type='MultiView', num_views=2, transforms=[view_pipeline]),
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

custom_hooks = [dict(type='SkippedFilesLogger')]
