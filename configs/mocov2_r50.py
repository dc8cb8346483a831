# MoCo v2, ResNet-50: the baseline every foreground-aware config is compared to.
# Same model, schedule and two-view pipeline as mmpretrain's
# mocov2_resnet50_8xb32-coslr-200e_in1k; the only change is the dataset, which reads
# any folder of images (ImageNet train layout or flat, labels ignored), so one override
# trains on your data:
#
#   python tools/train.py configs/mocov2_r50.py \
#       --cfg-options train_dataloader.dataset.data_root=/path/to/images
_base_ = 'mmpretrain::mocov2/mocov2_resnet50_8xb32-coslr-200e_in1k.py'

custom_imports = dict(imports=['mmtobias'], allow_failed_imports=False)

data_root = 'data/imagenet/train'

train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='CustomDataset',
        data_root=data_root,
        data_prefix='',
        with_label=False,
        pipeline={{_base_.train_pipeline}}))
