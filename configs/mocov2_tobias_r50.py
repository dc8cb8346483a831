# MoCo v2 + Tobias (Cao & Wu, AAAI 2022), ResNet-50: the MoCo v2 baseline of
# ./mocov2_r50.py with the background swap (SPEC section 2) on the query view.
#
#   python tools/train.py configs/mocov2_tobias_r50.py \
#       --cfg-options train_dataloader.dataset.data_root=/path/to/images
#
# The TobiasMaskGenerator hook (configs/_base_/tobias_hooks.py) writes the random-CNN
# masks of the training images to `mask_file` before the first iteration and gives the
# path to the swap; `mask_file` is set here only, so one override moves it:
#
#   python tools/train.py configs/mocov2_tobias_r50.py \
#       --cfg-options mask_file=/path/to/masks.tmask
_base_ = ['./mocov2_r50.py', '_base_/tobias_hooks.py']

mask_file = 'work_dirs/tobias_masks/mocov2_tobias_r50.tmask'
swap_prob = 0.3  # the paper's p, never tuned (Table 6: 0 / 0.3 / 0.5 / 0.7 / 1.0)

# The swap acts on the decoded image before every other augmentation, on the query
# view only (view 0 = inputs[0] = MoCo's query); the key view is the untouched image.
# The ablation configs replace `query_transform` only (mask_file: set by the hook).
query_transform = dict(type='BackgroundSwap', prob=swap_prob, mode='swap')
view_pipeline = _base_.view_pipeline
train_pipeline = [
    *_base_.load_pipeline,
    dict(
        type='MultiView',
        num_views=[1, 1],
        transforms=[[query_transform, *view_pipeline], view_pipeline]),
    *_base_.pack_pipeline,
]

train_dataloader = dict(dataset=dict(pipeline=train_pipeline))

custom_hooks = _base_.tobias_hooks
