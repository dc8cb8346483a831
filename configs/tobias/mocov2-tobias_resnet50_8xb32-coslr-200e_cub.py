# MoCo v2 + Tobias pretrained on CUB-200-2011 only (Tobias paper, Table 3): the CUB
# baseline plus the background swap with p = 0.3 on the query view; the hook makes the
# masks of the train images in `mask_file` (configs/_base_/tobias_hooks.py).
_base_ = ['./mocov2_resnet50_8xb32-coslr-200e_cub.py', '../_base_/tobias_hooks.py']

mask_file = 'work_dirs/tobias_masks/cub.tmask'

# The transform acts on the decoded image, on the query view (view 0) only; the views
# are the MoCo v2 views (configs/_base_/pipelines/mocov2_views.py).
query_transform = dict(type='BackgroundSwap', prob=0.3, mode='swap')
train_pipeline = [
    *_base_.load_pipeline,
    dict(
        type='MultiView',
        num_views=[1, 1],
        transforms=[[query_transform, *_base_.view_pipeline], _base_.view_pipeline]),
    *_base_.pack_pipeline,
]

train_dataloader = dict(dataset=dict(pipeline=train_pipeline))

custom_hooks = _base_.tobias_hooks
