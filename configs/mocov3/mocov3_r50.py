# MoCo v3, ResNet-50: the baseline twin of ./mocov3_tobias_r50.py. mmpretrain's
# mocov3_resnet50_8xb512-amp-coslr-300e_in1k as it is (model, LARS schedule with AMP,
# 300 epochs, its two asymmetric views) except the dataset, which reads any folder of
# images (ImageNet train layout or flat, labels ignored) with the loading step every
# mmtobias config uses, so the Tobias run and this one differ by the swap alone:
#
#   python tools/train.py configs/mocov3/mocov3_r50.py \
#       --cfg-options train_dataloader.dataset.data_root=/path/to/images
# On a machine without CUDA, MMEngine's AmpOptimWrapper is built as bf16 / fp32
# autocast (mmtobias/utils/compat/amp_without_cuda.py).
_base_ = [
    'mmpretrain::mocov3/mocov3_resnet50_8xb512-amp-coslr-300e_in1k.py',
    '../_base_/pipelines/loading.py',
]

custom_imports = dict(imports=['mmtobias'], allow_failed_imports=False)

data_root = 'data/imagenet/train'

# view 1: blur always; view 2: blur 0.1, solarize 0.2, as its config defines them
train_pipeline = [
    *_base_.load_pipeline,
    dict(
        type='MultiView',
        num_views=[1, 1],
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

custom_hooks = [dict(type='SkippedFilesLogger')]
