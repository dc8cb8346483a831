# MoCo v2 + copy-paste backgrounds (Distilling Localization, Zhao et al. 2021, §5.2;
# SPEC section 3) with the Tobias map as the saliency source: the transform of
# configs/_base_/copy_paste.py (gray backgrounds, blending) on each view, before the
# MoCo v2 augmentations. The masks are the hook's `mask_file` of ./mocov2_tobias_r50.py.
#
#   python tools/train.py configs/mocov2_copypaste_r50.py \
#       --cfg-options train_dataloader.dataset.data_root=/path/to/images
#
# Other saliency sources and backgrounds: see configs/_base_/copy_paste.py.
_base_ = ['./mocov2_tobias_r50.py', '_base_/copy_paste.py']

# both views: copy-paste, then the MoCo v2 augmentations
train_pipeline = [
    *_base_.load_pipeline,
    dict(
        type='MultiView',
        num_views=2,
        transforms=[[_base_.copy_paste, *_base_.view_pipeline]]),
    *_base_.pack_pipeline,
]

train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
