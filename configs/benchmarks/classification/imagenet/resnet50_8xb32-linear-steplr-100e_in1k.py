# Linear evaluation of a pretrained ResNet-50 (MoCo v2 / Tobias protocol: frozen
# backbone, SGD lr 30, batch 256, 100 epochs, steps at 60/80), mmpretrain's
# mocov2 benchmark on an ImageNet-layout folder (train/<class>/..., val/<class>/...):
#
#   python tools/train.py configs/benchmarks/classification/imagenet/\
# resnet50_8xb32-linear-steplr-100e_in1k.py \
#       --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/.../epoch_200.pth
#
# Any mmtobias / mmpretrain self-supervised checkpoint works: the query encoder is
# loaded from its `backbone.` keys.
_base_ = 'mmpretrain::mocov2/benchmarks/resnet50_8xb32-linear-steplr-100e_in1k.py'

custom_imports = dict(imports=['mmtobias'], allow_failed_imports=False)

data_root = 'data/imagenet'
num_classes = 1000

model = dict(
    backbone=dict(frozen_stages=4, norm_eval=True),
    head=dict(num_classes=num_classes))

train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='CustomDataset',
        data_root=data_root,
        data_prefix='train',
        pipeline={{_base_.train_pipeline}}))
val_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='CustomDataset',
        data_root=data_root,
        data_prefix='val',
        pipeline={{_base_.test_pipeline}}))
test_dataloader = val_dataloader

auto_scale_lr = dict(base_batch_size=256)
