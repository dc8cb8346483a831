# Any dataset in the VOC layout with its own class names:
#   DATA_ROOT/JPEGImages/<id>.jpg, DATA_ROOT/Annotations/<id>.xml,
#   DATA_ROOT/ImageSets/Main/{trainval,test}.txt
# (tools/dataset_converters/pairs_to_voc.py writes it from image + XML folders, with a
# classes.txt). The configs that use this set `classes`; tools/det_train.py --data-root
# / --classes override both and the detector's num_classes. Same multi-scale
# protocol as VOC (480-800, test 800); the metric is the all-point VOC AP ('area'),
# reported at IoU 0.1 ... 0.95 like the VOC configs.

data_root = 'data/custom/'
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
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    batch_sampler=dict(type='AspectRatioBatchSampler'),
    dataset=dict(
        type='XMLDataset',
        data_root=data_root,
        ann_file='ImageSets/Main/trainval.txt',
        data_prefix=dict(sub_data_root=''),
        filter_cfg=dict(filter_empty_gt=True, min_size=32),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='XMLDataset',
        data_root=data_root,
        ann_file='ImageSets/Main/test.txt',
        data_prefix=dict(sub_data_root=''),
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='VOCIoUSweepMetric', eval_mode='area')
test_evaluator = val_evaluator
