# SPEC section 5: the whole image resized to exactly 224x224 (Pillow bilinear,
# as torchvision.transforms.Resize on PIL images); mmcv Resize scales the GT
# boxes into the same 224x224 frame.
test_pipeline = [
    dict(type='SafeLoadImageFromFile'),
    dict(
        type='Resize',
        scale=(224, 224),
        keep_ratio=False,
        backend='pillow',
        interpolation='bilinear'),
    dict(
        type='PackInputs',
        algorithm_keys=('gt_bboxes', 'gt_bboxes_labels', 'img_valid'),
        meta_keys=('sample_idx', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor')),
]

# ImageNet val (flat or class folders) + the ILSVRC box XMLs in val_boxes/.
data_root = 'data/imagenet'
dataset = dict(
    type='ImageNetBoxDataset',
    data_root=data_root,
    data_prefix=dict(img_path='val', ann_path='val_boxes'),
    pipeline=test_pipeline)
test_dataloader = dict(
    batch_size=32,
    num_workers=2,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dataset)
test_evaluator = dict(
    type='SCDALocalization', iou_thr=0.5, average='class', invalid='evaluate')
