# SwAV, ResNet-50: the baseline twin of ./swav_tobias_r50.py. mmpretrain's
# swav_resnet50_8xb32-mcrop-coslr-200e_in1k-224px-96px as it is (model, LARS schedule,
# SwAVHook, multi-crop: 2 global 224 px crops and 6 local 96 px crops) except the
# dataset, which reads any folder of images (ImageNet train layout or flat, labels
# ignored) with the loading step every mmtobias config uses, so the Tobias run and this
# one differ by the swap alone:
#
#   python tools/train.py configs/swav/swav_r50.py \
#       --cfg-options train_dataloader.dataset.data_root=/path/to/images
_base_ = [
    'mmpretrain::swav/swav_resnet50_8xb32-mcrop-coslr-200e_in1k-224px-96px.py',
    '../_base_/pipelines/loading.py',
]

custom_imports = dict(imports=['mmtobias'], allow_failed_imports=False)

data_root = 'data/imagenet/train'

# mmpretrain's multi-crop views, as its config defines them: num_crops = [2, 6] global
# (view_pipeline1) and local (view_pipeline2) crops
train_pipeline = [
    *_base_.load_pipeline,
    dict(
        type='MultiView',
        num_views=_base_.num_crops,
        transforms=[_base_.view_pipeline1, _base_.view_pipeline2]),
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

# the stock config's hooks (SwAVHook), then the skipped-files logger
method_hooks = _base_.custom_hooks
custom_hooks = [*method_hooks, dict(type='SkippedFilesLogger')]
