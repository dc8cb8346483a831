# Linear evaluation on Tiny-ImageNet-200 (Tobias paper, Table 5: 100,000 train and
# 10,000 val images of 64 x 64, 200 classes): frozen pretrained ResNet-50, SGD lr 30,
# batch 256, 100 epochs, steps at 60/80, images kept at 64 px.
#
# Layout: train/<wnid>/images/*.JPEG as distributed; val/ sorted into
# val/<wnid>/*.JPEG (e.g. with val/val_annotations.txt:
#   cd val && while read f c _; do mkdir -p $c && mv images/$f $c/; done \
#       < val_annotations.txt)
#
#   python tools/train.py configs/benchmarks/classification/tiny-imagenet/\
# resnet50_8xb32-linear-steplr-100e_tiny-in200.py \
#       --cfg-options model.backbone.init_cfg.checkpoint=CKPT
_base_ = '../imagenet/resnet50_8xb32-linear-steplr-100e_in1k.py'

data_root = 'data/tiny-imagenet-200'
num_classes = 200
input_size = 64

model = dict(head=dict(num_classes=num_classes))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=input_size, backend='pillow'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(input_size, input_size), backend='pillow'),
    dict(type='PackInputs'),
]

train_dataloader = dict(dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
