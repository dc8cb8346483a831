# Fine-tuning on CUB-200-2011 after self-supervised pretraining on CUB only (Tobias
# paper, Table 3, "Normal FT"; protocol of Cao & Wu 2021): all layers trained for 120
# epochs, SGD momentum 0.9, weight decay 5e-4, batch 64, lr 0.1 with cosine decay,
# input 224.
#
#   python tools/train.py configs/benchmarks/classification/cub/\
# resnet50_8xb8-coslr-120e_cub.py \
#       --cfg-options model.backbone.init_cfg.checkpoint=CKPT
_base_ = [
    'mmpretrain::_base_/models/resnet50.py',
    'mmpretrain::_base_/datasets/cub_bs8_448.py',
    'mmpretrain::_base_/default_runtime.py',
]

custom_imports = dict(imports=['mmtobias'], allow_failed_imports=False)

data_root = 'data/CUB_200_2011'

model = dict(
    backbone=dict(
        init_cfg=dict(type='Pretrained', checkpoint='', prefix='backbone.')),
    head=dict(num_classes=200))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=224, backend='pillow'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=256, edge='short', backend='pillow'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]

train_dataloader = dict(dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=5e-4, nesterov=False))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=120, by_epoch=True, begin=0, end=120)]
train_cfg = dict(by_epoch=True, max_epochs=120, val_interval=10)
val_cfg = dict()
test_cfg = dict()

default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=10, max_keep_ckpts=2))

auto_scale_lr = dict(base_batch_size=64)
