# MoCo v2 baseline, Tobias paper ImageNet-subset settings, 800 epochs.
_base_ = './mocov2_resnet50_8xb32-coslr-200e_in10k-112px.py'

param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=800, by_epoch=True, begin=0, end=800)
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=800)
