# MoCo v2-Mixup (Tobias paper, Table 5): with probability 0.3 the query is
# lam * image + (1 - lam) * another training image, lam ~ Beta(1, 1) (the released code
# has no Mixup; SPEC section 2). The mask file only provides the donor list.
_base_ = './mocov2_tobias_r50.py'

mask_file = 'work_dirs/tobias_masks/mocov2_tobias_r50.tmask'

view_pipeline = _base_.view_pipeline  # the MoCo v2 views (./mocov2_r50.py)

train_pipeline = [
    *_base_.load_pipeline,
    dict(
        type='MultiView',
        num_views=[1, 1],
        transforms=[[
            dict(
                type='BackgroundSwap',
                prob=0.3,
                mode='mixup',
                mixup_alpha=1.0,
                mask_file=mask_file), *view_pipeline
        ], view_pipeline]),
    *_base_.pack_pipeline,
]

train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
