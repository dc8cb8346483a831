# DenseCL + Tobias, ResNet-50: ./densecl_r50.py with the background swap (SPEC section
# 2) on view 0 only, on the decoded image before that view's augmentations; view 1 is
# the untouched image. DenseCL contrasts view 0 (the query: global and dense features)
# against view 1 (the momentum keys) as MoCo v2 does, so the swapped view is its
# query, as in the paper's MoCo v2.
#
#   python tools/train.py configs/densecl/densecl_tobias_r50.py \
#       --cfg-options train_dataloader.dataset.data_root=/path/to/images
#
# The TobiasMaskGenerator hook (configs/_base_/tobias_hooks.py) makes the masks in
# `mask_file` before the first iteration; one override moves it:
#   --cfg-options mask_file=/path/to/masks.tmask
_base_ = ['./densecl_r50.py', '../_base_/tobias_hooks.py']

mask_file = 'work_dirs/tobias_masks/densecl_tobias_r50.tmask'
swap_prob = 0.3  # the paper's p

query_transform = dict(type='BackgroundSwap', prob=swap_prob, mode='swap')
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
