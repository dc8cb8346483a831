# MoCo v2-Mixup (Tobias paper, Table 5): with probability 0.3 the query is
# lam * image + (1 - lam) * another training image, lam ~ Beta(1, 1) (the released code
# has no Mixup; SPEC section 2). The mask file (`mask_file` of ./mocov2_tobias_r50.py)
# only provides the donor list.
#
#   python tools/train.py configs/mocov2_mixup_r50.py \
#       --cfg-options train_dataloader.dataset.data_root=/path/to/images
_base_ = './mocov2_tobias_r50.py'

# the only change: the query transform (the key view and the hooks are the base's)
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
