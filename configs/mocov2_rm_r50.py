# MoCo v2-RM (Tobias paper, Table 5): the "random merge" ablation of
# ./mocov2_tobias_r50.py. With probability 0.3 the query keeps 8 random cells of the
# image and takes 8 random cells of another training image (a patch-level CutMix that
# ignores the Tobias masks). As in the released code, the mask file only provides the
# list of donor images, so the hook still makes it.
_base_ = './mocov2_tobias_r50.py'

mask_file = 'work_dirs/tobias_masks/mocov2_tobias_r50.tmask'

view_pipeline = _base_.view_pipeline  # the MoCo v2 views (./mocov2_r50.py)

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
