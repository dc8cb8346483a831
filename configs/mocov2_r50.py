# MoCo v2, ResNet-50: the baseline every foreground-aware config is compared to.
# Same model, schedule and two-view pipeline as mmpretrain's
# mocov2_resnet50_8xb32-coslr-200e_in1k; the only change is the dataset, which reads
# any folder of images (ImageNet train layout or flat, labels ignored), so one override
# trains on your data:
#
#   python tools/train.py configs/mocov2_r50.py \
#       --cfg-options train_dataloader.dataset.data_root=/path/to/images
#
# The views come from configs/_base_/pipelines/mocov2_views.py and the load / pack steps
# from configs/_base_/pipelines/loading.py, the one copy of each: an augmentation change
# is one edit there.
_base_ = [
    'mmpretrain::mocov2/mocov2_resnet50_8xb32-coslr-200e_in1k.py',
    '_base_/pipelines/loading.py',
    '_base_/pipelines/mocov2_views.py',
]

custom_imports = dict(imports=['mmtobias'], allow_failed_imports=False)

data_root = 'data/imagenet/train'

# the same MoCo v2 augmentations on both views
view_pipeline = _base_.mocov2_view_pipeline
train_pipeline = [
    *_base_.load_pipeline,
    dict(type='MultiView', num_views=2, transforms=[view_pipeline]),
    *_base_.pack_pipeline,
]

train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='CustomDataset',
        data_root=data_root,
        data_prefix='',
        with_label=False,
        pipeline=train_pipeline))

# the count of unreadable images skipped per epoch (SafeLoadImageFromFile)
custom_hooks = [dict(type='SkippedFilesLogger')]
