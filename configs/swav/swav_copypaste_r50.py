# SwAV + copy-paste (Distilling Localization; SPEC section 3): ./swav_tobias_r50.py's
# masks and hook, with the copy-paste of configs/_base_/copy_paste.py on each of the two
# global crops (independently, as released for two views) before their augmentations.
# The local crops stay untouched, for the reason ./swav_tobias_r50.py gives: at 5-14 %
# of the image they rarely hold the pasted foreground.
#
#   python tools/train.py configs/swav/swav_copypaste_r50.py \
#       --cfg-options train_dataloader.dataset.data_root=/path/to/images
_base_ = ['./swav_tobias_r50.py', '../_base_/copy_paste.py']

train_pipeline = [
    *_base_.load_pipeline,
    dict(
        type='MultiView',
        num_views=[2, 6],
        transforms=[[_base_.copy_paste, *_base_.view_pipeline1], _base_.view_pipeline2]),
    *_base_.pack_pipeline,
]

train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
