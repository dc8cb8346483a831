# MoCo v2-RM on IN-50k, 800 epochs (Tobias paper, Table 5): random merge (8 random
# cells of the image kept, 8 random cells of a donor) instead of the Tobias swap. The
# mask file of the base config only provides the donor list.
_base_ = './mocov2-tobias_resnet50_8xb32-coslr-800e_in50k-112px.py'

# the only change: the query transform (view 0), on the decoded image
query_transform = dict(type='BackgroundSwap', prob=0.3, mode='random_merge')
train_pipeline = [
    *_base_.load_pipeline,
    dict(
        type='MultiView',
        num_views=[1, 1],
        transforms=[[query_transform, *_base_.view_pipeline], _base_.view_pipeline]),
    *_base_.pack_pipeline,
]

train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
