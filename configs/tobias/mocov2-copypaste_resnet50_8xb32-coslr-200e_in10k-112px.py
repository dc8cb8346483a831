# MoCo v2 + copy-paste backgrounds (Distilling Localization §5.2) on IN-10k with the
# paper's subset settings; the copy-paste of configs/_base_/copy_paste.py (saliency from
# the Tobias maps of the base config's mask file, random gray backgrounds, hard /
# Gaussian-blended paste, p = 0.3), each view independently.
_base_ = [
    './mocov2-tobias_resnet50_8xb32-coslr-200e_in10k-112px.py', '../_base_/copy_paste.py'
]

# both views: copy-paste, then the MoCo v2 views at input 112
train_pipeline = [
    *_base_.load_pipeline,
    dict(type='MultiView', num_views=2, transforms=[[_base_.copy_paste, *_base_.view_pipeline]]),
    *_base_.pack_pipeline,
]

train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
