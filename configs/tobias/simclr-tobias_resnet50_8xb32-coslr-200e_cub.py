# SimCLR + Tobias pretrained on CUB-200-2011 only (Tobias paper, Table 3): mmpretrain's
# SimCLR 8 x 32 setting with the background swap on view 0 (the pipeline of
# ../simclr_tobias_r50.py) and its own mask file.
_base_ = '../simclr_tobias_r50.py'

data_root = 'data/CUB_200_2011'
mask_file = 'work_dirs/tobias_masks/cub.tmask'

train_dataloader = dict(
    batch_size=32,
    dataset=dict(
        _delete_=True,
        type='CUB',
        data_root=data_root,
        split='train',
        pipeline=_base_.train_pipeline))

# LARS lr 4.8 for 4096 images (mmpretrain's SimCLR), scaled linearly to 256.
optim_wrapper = dict(optimizer=dict(lr=0.3))
auto_scale_lr = dict(base_batch_size=256)
