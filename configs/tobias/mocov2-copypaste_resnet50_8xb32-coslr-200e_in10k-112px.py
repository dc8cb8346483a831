# MoCo v2 + copy-paste backgrounds (Distilling Localization §5.2) on IN-10k with the
# paper's subset settings; saliency from the Tobias maps (the base config's mask file),
# random gray backgrounds, hard / Gaussian-blended paste ("mix"), p = 0.3, each view
# independently.
_base_ = './mocov2-tobias_resnet50_8xb32-coslr-200e_in10k-112px.py'

copy_paste = dict(type='CopyPaste', prob=0.3, saliency='tobias', background='gray', blend='mix')

# both views: copy-paste, then the MoCo v2 views at input 112
train_pipeline = [
    *_base_.load_pipeline,
    dict(type='MultiView', num_views=2, transforms=[[copy_paste, *_base_.view_pipeline]]),
    *_base_.pack_pipeline,
]

train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
