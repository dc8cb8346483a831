# MoCo v2-RM on IN-10k, 800 epochs (Tobias paper, Table 5): random merge (8 random
# cells of the image kept, 8 random cells of a donor) instead of the Tobias swap.
_base_ = './mocov2-tobias_resnet50_8xb32-coslr-800e_in10k-112px.py'

mask_file = 'work_dirs/tobias_masks/in10k.tmask'

view_pipeline = _base_.view_pipeline  # the MoCo v2 views (../mocov2_r50.py)

# The transform acts on the decoded image, on the query view (view 0) only.
train_pipeline = [
    *_base_.load_pipeline,
    dict(
        type='MultiView',
        num_views=[1, 1],
        transforms=[[
            dict(type='BackgroundSwap', prob=0.3, mode='random_merge', mask_file=mask_file),
            *view_pipeline
        ], view_pipeline]),
    *_base_.pack_pipeline,
]

train_dataloader = dict(dataset=dict(pipeline=train_pipeline))

custom_hooks = [
    dict(type='SkippedFilesLogger'),
    dict(type='TobiasMaskGenerator', mask_file=mask_file, seed=0)
]
