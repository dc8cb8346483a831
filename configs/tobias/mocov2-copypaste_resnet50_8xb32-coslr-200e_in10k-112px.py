# MoCo v2 + copy-paste backgrounds (Distilling Localization §5.2) on IN-10k with the
# paper's subset settings; saliency from the Tobias maps, random gray backgrounds,
# hard / Gaussian-blended paste ("mix"), p = 0.3, each view independently.
_base_ = './mocov2-tobias_resnet50_8xb32-coslr-200e_in10k-112px.py'

mask_file = 'work_dirs/tobias_masks/in10k.tmask'

view_pipeline = _base_.view_pipeline  # the MoCo v2 views (../mocov2_r50.py)

copy_paste = dict(
    type='CopyPaste', prob=0.3, saliency='tobias', mask_file=mask_file, background='gray',
    blend='mix')

train_pipeline = [
    *_base_.load_pipeline,
    dict(type='MultiView', num_views=2, transforms=[[copy_paste, *view_pipeline]]),
    *_base_.pack_pipeline,
]

train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
