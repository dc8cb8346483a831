# MoCo v2-RM (Tobias paper, Table 5): the "random merge" ablation of
# ./mocov2_tobias_r50.py. With probability 0.3 the query keeps 8 random cells of the
# image and takes 8 random cells of another training image (a patch-level CutMix that
# ignores the Tobias masks). As in the released code, the mask file only provides the
# list of donor images, so the hook still makes it (`mask_file` of the base config).
#
#   python tools/train.py configs/mocov2_rm_r50.py \
#       --cfg-options train_dataloader.dataset.data_root=/path/to/images
_base_ = './mocov2_tobias_r50.py'

# the only change: the query transform (the key view and the hooks are the base's)
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
