# SimCLR + Tobias pretrained on CUB-200-2011 only (Tobias paper, Table 3): mmpretrain's
# SimCLR 8 x 32 setting with the background swap on view 0.
_base_ = '../simclr_tobias_r50.py'

data_root = 'data/CUB_200_2011'
mask_file = 'work_dirs/tobias_masks/cub.tmask'

view_pipeline = _base_.view_pipeline  # the SimCLR views (../simclr_tobias_r50.py)

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

train_dataloader = dict(
    batch_size=32,
    dataset=dict(
        _delete_=True,
        type='CUB',
        data_root=data_root,
        split='train',
        pipeline=train_pipeline))

# LARS lr 4.8 for 4096 images (mmpretrain's SimCLR), scaled linearly to 256.
optim_wrapper = dict(optimizer=dict(lr=0.3))
auto_scale_lr = dict(base_batch_size=256)

custom_hooks = [
    dict(type='SkippedFilesLogger'),
    dict(type='TobiasMaskGenerator', mask_file=mask_file, seed=0)
]
