# MoCo v2 baseline with the Tobias paper's ImageNet-subset settings (Table 5; released
# main_moco.py --lr 0.3 --batch-size 256 --epochs 200 --input-size 112 --mlp
# --moco-t 0.2 --aug-plus --cos --moco-k 65536): ResNet-50, 8 GPUs x 32 images, input
# 112, lr 0.3, queue 65536, temperature 0.2, cosine schedule.
#
# IN-10k: a label-free random subset of ImageNet train, e.g.
#   python tools/create_subset.py data/imagenet/train data/imagenet/in10k --num 10000
_base_ = '../mocov2_r50.py'

data_root = 'data/imagenet/in10k'
input_size = 112

# MoCo v2 augmentations at the paper's input size, both views.
view_pipeline = [
    dict(
        type='RandomResizedCrop',
        scale=input_size,
        crop_ratio_range=(0.2, 1.),
        backend='pillow'),
    dict(
        type='RandomApply',
        transforms=[
            dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1)
        ],
        prob=0.8),
    dict(
        type='RandomGrayscale',
        prob=0.2,
        keep_channels=True,
        channel_weights=(0.114, 0.587, 0.2989)),
    dict(type='GaussianBlur', magnitude_range=(0.1, 2.0), magnitude_std='inf', prob=0.5),
    dict(type='RandomFlip', prob=0.5),
]

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='MultiView', num_views=2, transforms=[view_pipeline]),
    dict(type='PackInputs')
]

train_dataloader = dict(batch_size=32, dataset=dict(data_root=data_root, pipeline=train_pipeline))

model = dict(queue_len=65536, head=dict(temperature=0.2))

optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.3, weight_decay=1e-4, momentum=0.9))
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=200, by_epoch=True, begin=0, end=200)
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=200)

auto_scale_lr = dict(base_batch_size=256)
