# SwAV + Tobias, ResNet-50: ./swav_r50.py with the background swap (SPEC section 2) on
# the first global crop only.
#
# Where the swap goes in multi-crop, from the paper's rule "swap on the decoded image,
# query view only": SwAV computes codes from the two global crops (crops_for_assign
# [0, 1]) and trains every crop to predict the codes of the global crops other than
# itself. With the swap on global crop 0 and crop 1 untouched, the swapped crop
# predicts the untouched image's code (the paper's pairing: a swapped view matched to
# the original), and the untouched crop 1 keeps a clean code for the local crops to
# predict. The 6 local crops (5-14 % of the image, 96 px) stay untouched: a crop that
# small sees a few cells of the 4x4 swap grid, so a swapped local crop would mostly be
# the donor's background with none of the image's foreground left to match.
#
#   python tools/train.py configs/swav/swav_tobias_r50.py \
#       --cfg-options train_dataloader.dataset.data_root=/path/to/images
#
# The TobiasMaskGenerator hook (configs/_base_/tobias_hooks.py) makes the masks in
# `mask_file` before the first iteration; one override moves it:
#   --cfg-options mask_file=/path/to/masks.tmask
_base_ = ['./swav_r50.py', '../_base_/tobias_hooks.py']

mask_file = 'work_dirs/tobias_masks/swav_tobias_r50.tmask'
swap_prob = 0.3  # the paper's p

query_transform = dict(type='BackgroundSwap', prob=swap_prob, mode='swap')
# [swapped global crop 0, untouched global crop 1, 6 untouched local crops]: the same
# order and sizes as num_crops = [2, 6], which SwAV's loss and hook read
train_pipeline = [
    *_base_.load_pipeline,
    dict(
        type='MultiView',
        num_views=[1, 1, 6],
        transforms=[[query_transform, *_base_.view_pipeline1], _base_.view_pipeline1,
                    _base_.view_pipeline2]),
    *_base_.pack_pipeline,
]

train_dataloader = dict(dataset=dict(pipeline=train_pipeline))

custom_hooks = [*_base_.method_hooks, *_base_.tobias_hooks]
