# MoCo v2 + Tobias on IN-10k (Tobias paper, Table 5): the baseline's settings
# (input 112, lr 0.3, batch 256, queue 65536, T 0.2, cosine) plus the background swap
# with p = 0.3 on the query view; the hook makes the masks on the first run, in
# `mask_file` (configs/_base_/tobias_hooks.py), which one override moves:
#
#   python tools/train.py configs/tobias/mocov2-tobias_resnet50_8xb32-coslr-200e_in10k-112px.py \
#       --cfg-options mask_file=/path/to/in10k.tmask
_base_ = ['./mocov2_resnet50_8xb32-coslr-200e_in10k-112px.py', '../_base_/tobias_hooks.py']

mask_file = 'work_dirs/tobias_masks/in10k.tmask'

# The transform acts on the decoded image, on the query view (view 0) only; the views
# are the baseline's (the MoCo v2 views at input 112).
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
