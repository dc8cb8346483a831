# SimSiam + copy-paste (Distilling Localization; SPEC section 3):
# ./simsiam_tobias_r50.py's masks and hook, with the copy-paste of
# configs/_base_/copy_paste.py on each view (independently, as released) before
# SimSiam's own augmentations of that view.
#
#   python tools/train.py configs/simsiam/simsiam_copypaste_r50.py \
#       --cfg-options train_dataloader.dataset.data_root=/path/to/images
_base_ = ['./simsiam_tobias_r50.py', '../_base_/copy_paste.py']

train_pipeline = [
    *_base_.load_pipeline,
    dict(
        type='MultiView',
        num_views=[1, 1],
        transforms=[[_base_.copy_paste, *_base_.view_pipeline],
                    [_base_.copy_paste, *_base_.view_pipeline]]),
    *_base_.pack_pipeline,
]

train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
