# InsLoc R50-C4, 400 epochs (the paper's longer schedule).
_base_ = 'insloc_r50-c4_8xb32-coslr-200e_in1k.py'

param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=400, by_epoch=True, begin=0, end=400)
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=400)
