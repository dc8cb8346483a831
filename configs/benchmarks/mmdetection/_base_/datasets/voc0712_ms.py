# VOC07+12 trainval -> VOC07 test with multi-scale training (shorter side 480-800 in
# steps of 32, longer side <= 1333) and testing at 800; iteration-based (infinite
# sampler). Evaluated with the VOC07 11-point metric at IoU .1-.95: AP50, AP (mean over
# .50:.95, reported as pascal_voc/mAP), AP75 and the AP-vs-IoU curve AP10 ... AP90.
_base_ = 'mmdet::_base_/datasets/voc0712.py'

data_root = 'data/VOCdevkit/'
train_scales = [(1333, s) for s in range(480, 801, 32)]
test_scale = (1333, 800)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='RandomChoiceResize', scales=train_scales, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=test_scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),  # after Resize: boxes stay unscaled
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(
    batch_size=2,
    num_workers=2,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        _delete_=True,
        type='ConcatDataset',
        ignore_keys=['dataset_type'],
        datasets=[
            dict(type='VOCDataset', data_root=data_root,
                 ann_file=f'VOC{year}/ImageSets/Main/trainval.txt',
                 data_prefix=dict(sub_data_root=f'VOC{year}/'),
                 filter_cfg=dict(filter_empty_gt=True, min_size=32),
                 pipeline=train_pipeline) for year in (2007, 2012)
        ]))
val_dataloader = dict(dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(_delete_=True, type='VOCIoUSweepMetric', eval_mode='11points')
test_evaluator = val_evaluator
