# MoCo v3 + Tobias, ResNet-50: ./mocov3_r50.py with the background swap (SPEC section
# 2) on view 0 only, on the decoded image before that view's augmentations; view 1 is
# the untouched image. MoCo v3's loss is symmetric (each view's query against the
# other's momentum key), so, as in the paper's SimCLR + Tobias, the rule 'one view
# swapped, the other untouched' is what carries over.
#
#   python tools/train.py configs/mocov3/mocov3_tobias_r50.py \
#       --cfg-options train_dataloader.dataset.data_root=/path/to/images
#
# The TobiasMaskGenerator hook (configs/_base_/tobias_hooks.py) makes the masks in
# `mask_file` before the first iteration; one override moves it:
#   --cfg-options mask_file=/path/to/masks.tmask
_base_ = ['./mocov3_r50.py', '../_base_/tobias_hooks.py']

mask_file = 'work_dirs/tobias_masks/mocov3_tobias_r50.tmask'
swap_prob = 0.3  # the paper's p

query_transform = dict(type='BackgroundSwap', prob=swap_prob, mode='swap')
train_pipeline = [
    *_base_.load_pipeline,
    dict(
        type='MultiView',
        num_views=[1, 1],
        transforms=[[query_transform, *_base_.view_pipeline1], _base_.view_pipeline2]),
    *_base_.pack_pipeline,
]

train_dataloader = dict(dataset=dict(pipeline=train_pipeline))

custom_hooks = _base_.tobias_hooks
