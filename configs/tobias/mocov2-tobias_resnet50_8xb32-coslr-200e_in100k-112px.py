# MoCo v2 + Tobias on IN-100k (Tobias paper, Table 5): the baseline's settings
# (input 112, lr 0.3, batch 256, queue 65536, T 0.2, cosine) plus the background swap
# with p = 0.3 on the query view; the hook makes the masks on the first run.
_base_ = './mocov2_resnet50_8xb32-coslr-200e_in100k-112px.py'

mask_file = 'work_dirs/tobias_masks/in100k.tmask'

view_pipeline = _base_.view_pipeline  # the MoCo v2 views (../mocov2_r50.py)

# The transform acts on the decoded image, on the query view (view 0) only.
train_pipeline = [
    *_base_.load_pipeline,
    dict(
        type='MultiView',
        num_views=[1, 1],
        transforms=[[
            dict(type='BackgroundSwap', prob=0.3, mode='swap', mask_file=mask_file),
            *view_pipeline
        ], view_pipeline]),
    *_base_.pack_pipeline,
]

train_dataloader = dict(dataset=dict(pipeline=train_pipeline))

custom_hooks = [
    dict(type='SkippedFilesLogger'),
    dict(type='TobiasMaskGenerator', mask_file=mask_file, seed=0)
]
