# SimCLR + Tobias (Tobias paper, Table 3), ResNet-50: mmpretrain's SimCLR (LARS,
# batch 16 x 256, cosine, 200 epochs) with the background swap (SPEC section 2) on view
# 0; the other view is the untouched image. Trains on any image folder:
#
#   python tools/train.py configs/simclr_tobias_r50.py \
#       --cfg-options train_dataloader.dataset.data_root=/path/to/images
#
# The TobiasMaskGenerator hook (configs/_base_/tobias_hooks.py) makes the masks in
# `mask_file` and gives the path to the swap; one override moves it:
#
#   python tools/train.py configs/simclr_tobias_r50.py \
#       --cfg-options mask_file=/path/to/masks.tmask
#
# The backbone and the neck use SyncBN as in mmpretrain's SimCLR; several CPU processes
# (no CUDA) train with BN and per-process statistics instead, with a warning.
_base_ = [
    'mmpretrain::simclr/simclr_resnet50_16xb256-coslr-200e_in1k.py',
    '_base_/pipelines/loading.py',
    '_base_/pipelines/simclr_views.py',
    '_base_/tobias_hooks.py',
]

custom_imports = dict(imports=['mmtobias'], allow_failed_imports=False)

data_root = 'data/imagenet/train'
mask_file = 'work_dirs/tobias_masks/simclr_tobias_r50.tmask'
swap_prob = 0.3

# The swap acts on the decoded image, on view 0 only; the SimCLR augmentations of
# configs/_base_/pipelines/simclr_views.py follow on both views.
query_transform = dict(type='BackgroundSwap', prob=swap_prob, mode='swap')
view_pipeline = _base_.simclr_view_pipeline
train_pipeline = [
    *_base_.load_pipeline,
    dict(
        type='MultiView',
        num_views=[1, 1],
        transforms=[[query_transform, *view_pipeline], view_pipeline]),
    *_base_.pack_pipeline,
]

train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='CustomDataset',
        data_root=data_root,
        data_prefix='',
        with_label=False,
        pipeline=train_pipeline))

custom_hooks = _base_.tobias_hooks

auto_scale_lr = dict(base_batch_size=4096)
