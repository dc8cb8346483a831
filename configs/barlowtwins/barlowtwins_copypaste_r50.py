# Barlow Twins + copy-paste (Distilling Localization; SPEC section 3):
# ./barlowtwins_tobias_r50.py's masks and hook, with the copy-paste of
# configs/_base_/copy_paste.py on each view (independently, as released) before Barlow
# Twins' own augmentations of that view.
#
#   python tools/train.py configs/barlowtwins/barlowtwins_copypaste_r50.py \
#       --cfg-options train_dataloader.dataset.data_root=/path/to/images
_base_ = ['./barlowtwins_tobias_r50.py', '../_base_/copy_paste.py']

train_pipeline = [
    *_base_.load_pipeline,
    dict(
        type='MultiView',
        num_views=[1, 1],
        transforms=[[_base_.copy_paste, *_base_.view_pipeline1],
                    [_base_.copy_paste, *_base_.view_pipeline2]]),
    *_base_.pack_pipeline,
]

train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
