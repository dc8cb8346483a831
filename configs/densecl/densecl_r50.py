# DenseCL, ResNet-50: the baseline twin of ./densecl_tobias_r50.py. mmpretrain's
# densecl_resnet50_8xb32-coslr-200e_in1k as it is (model, SGD schedule, 200 epochs,
# the MoCo v2 views) except the dataset, which reads any folder of images (ImageNet
# train layout or flat, labels ignored) with the loading step every mmtobias config
# uses, so the Tobias run and this one differ by the swap alone:
#
#   python tools/train.py configs/densecl/densecl_r50.py \
#       --cfg-options train_dataloader.dataset.data_root=/path/to/images
_base_ = [
    'mmpretrain::densecl/densecl_resnet50_8xb32-coslr-200e_in1k.py',
    '../_base_/pipelines/loading.py',
]

custom_imports = dict(imports=['mmtobias'], allow_failed_imports=False)

data_root = 'data/imagenet/train'

# the MoCo v2 views mmpretrain's DenseCL uses, as its config defines them
train_pipeline = [
    *_base_.load_pipeline,
    dict(type='MultiView', num_views=2, transforms=[_base_.view_pipeline]),
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

custom_hooks = [dict(type='SkippedFilesLogger')]
