# Fine-tuning on CUB-200-2011 with Mixup (alpha 1.0), Tobias paper Table 3 "Mixup FT".
_base_ = './resnet50_8xb8-coslr-120e_cub.py'

model = dict(
    head=dict(loss=dict(type='CrossEntropyLoss', loss_weight=1.0, use_soft=True)),
    train_cfg=dict(augments=dict(type='Mixup', alpha=1.0)))
