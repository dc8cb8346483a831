# MoCo v2-Mixup on IN-10k, 800 epochs (Tobias paper, Table 5): the query is
# lam * image + (1 - lam) * donor with lam ~ Beta(1, 1) instead of the Tobias swap. The
# mask file of the base config only provides the donor list.
_base_ = './mocov2-tobias_resnet50_8xb32-coslr-800e_in10k-112px.py'

# the only change: the query transform (view 0), on the decoded image
query_transform = dict(type='BackgroundSwap', prob=0.3, mode='mixup', mixup_alpha=1.0)
train_pipeline = [
    *_base_.load_pipeline,
    dict(
        type='MultiView',
        num_views=[1, 1],
        transforms=[[query_transform, *_base_.view_pipeline], _base_.view_pipeline]),
    *_base_.pack_pipeline,
]

train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
