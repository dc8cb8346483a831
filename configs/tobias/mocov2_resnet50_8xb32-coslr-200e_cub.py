# MoCo v2 baseline pretrained on CUB-200-2011 only (Tobias paper, Table 3; the
# protocol of Cao & Wu, "Rethinking self-supervised learning: small is beautiful"):
# mmpretrain's MoCo v2 settings (input 224, batch 256, lr 0.03, cosine) on the 5,994
# train images (labels unused). data_root holds images/, images.txt,
# image_class_labels.txt and train_test_split.txt.
_base_ = '../mocov2_r50.py'

data_root = 'data/CUB_200_2011'
input_size = 224

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

train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='CUB',
        data_root=data_root,
        split='train',
        pipeline=train_pipeline))
