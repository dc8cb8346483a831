# Iteration-based SGD schedule (COCO 2x: InsLoc Sec. 5.1.2): lr 0.02 for batch 16 (8
# GPUs x 2), momentum 0.9, weight decay 1e-4, 100 linear warm-up iterations, x0.1 at the
# steps.
# Includes mmdet's default runtime, with iteration-based logging and checkpoints.
_base_ = 'mmdet::_base_/default_runtime.py'

lr = 0.02
max_iters = 180000
lr_steps = [120000, 160000]
warmup_iters = 100

train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=lr, momentum=0.9, weight_decay=1e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=max_iters, milestones=lr_steps,
         gamma=0.1),
]
# The reference total batch of the lr and iterations above. tools/det_train.py keeps
# the protocol per image on any number of processes: it enables the lr scaling to
# the actual total batch and scales iterations, steps and warm-up inversely
# (--keep-schedule: as written). Other entry points train the numbers as written.
auto_scale_lr = dict(enable=False, base_batch_size=16)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=20),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=2000, max_keep_ckpts=2))
log_processor = dict(by_epoch=False)
