# MoCo v2 + Tobias on CUB-200-2011, 800 epochs.
_base_ = './mocov2-tobias_resnet50_8xb32-coslr-200e_cub.py'

param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=800, by_epoch=True, begin=0, end=800)
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=800)
