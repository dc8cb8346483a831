# InsLoc, ResNet-50-C4 (Yang et al., "Instance Localization for Self-supervised
# Detection Pretraining", CVPR 2021): MoCo v2 on RoIAlign features of a crop of
# each image pasted onto two other images of the dataset. RoIAlign 7x7 on res4
# (stride 16), res5 as the RoI head, global pool, MoCo v2 MLP neck; box
# augmentation on the query. 8 GPUs x 32 = 256, SGD 0.03 nesterov, cosine, 200e.
#
# Trains on any folder of images (ImageNet train layout or flat):
#   python tools/train.py configs/insloc_r50-c4.py \
#       --cfg-options train_dataloader.dataset.data_root=/path/to/images
_base_ = [
    'mmpretrain::_base_/schedules/imagenet_sgd_coslr_200e.py',
    'mmpretrain::_base_/default_runtime.py',
    '../_base_/pipelines/loading.py',
    '../_base_/pipelines/insloc_views.py',
]

custom_imports = dict(imports=['mmtobias'], allow_failed_imports=False)

data_root = 'data/imagenet/train'
bg_size = 256  # composited views are bg_size x bg_size
queue_len = 65536
feat_dim = 128

# model settings
model = dict(
    type='InsLoc',
    queue_len=queue_len,
    feat_dim=feat_dim,
    momentum=0.001,  # mmengine EMA rate: key = 0.999 * key + 0.001 * query
    roi_strides=(16, ),
    roi_size=7,
    bbox_aug=dict(
        stride=16,
        scales=(2, 4, 8, 16),
        ratios=(0.5, 0.75, 1, 1.5, 2),
        pos_iou_thr=0.5,
        nms_iou_thr=0.7),
    bbox_aug_levels=(-1, ),
    data_preprocessor=dict(
        type='SelfSupDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True),
    backbone=dict(
        type='ResNet',
        depth=50,
        norm_cfg=dict(type='BN'),
        zero_init_residual=False),
    neck=dict(
        type='MoCoV2Neck',
        in_channels=2048,
        hid_channels=2048,
        out_channels=feat_dim,
        with_avg_pool=True),
    head=dict(
        type='ContrastiveHead',
        loss=dict(type='CrossEntropyLoss'),
        temperature=0.2))

# data: composite, then the MoCo v2 colour/blur/flip per view (flip moves the box);
# the views are configs/_base_/pipelines/insloc_views.py (the MoCo v2 views without the
# crop), the load / pack steps configs/_base_/pipelines/loading.py.
view_pipeline = _base_.insloc_view_pipeline
composite = dict(
    type='InsLocComposite',
    bg_size=bg_size,
    paste_size_range=(128, 255),
    crop_ratio_range=(0.2, 1.0),
    aspect_ratio_range=(0.5, 2.0))
train_pipeline = [
    *_base_.load_pipeline,
    composite,
    dict(type='MultiViewWithBoxes', transforms=[view_pipeline]),
    # the PackInputs of loading.py, which also packs the boxes
    dict(_base_.pack_pipeline[0], algorithm_keys=['gt_bboxes', 'skipped_files']),
]
train_dataloader = dict(
    batch_size=32,
    num_workers=8,
    drop_last=True,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type='InsLocDataset',  # CustomDataset + two background paths/sample
        data_root=data_root,
        data_prefix='',
        with_label=False,
        num_backgrounds=2,
        pipeline=train_pipeline))

# schedule: SGD 0.03 with nesterov momentum, wd 1e-4, cosine over 200 epochs
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(
        type='SGD', lr=0.03, weight_decay=1e-4, momentum=0.9, nesterov=True))

default_hooks = dict(checkpoint=dict(max_keep_ckpts=3))
# the count of unreadable images skipped per epoch (SafeLoadImageFromFile, loading.py)
custom_hooks = [dict(type='SkippedFilesLogger')]

# NOTE: `auto_scale_lr` is for automatically scaling LR
# based on the actual training batch size.
auto_scale_lr = dict(base_batch_size=256)
