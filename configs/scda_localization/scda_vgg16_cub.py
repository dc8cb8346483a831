# Table 2 row 14: random VGG-16 (pool5).
_base_ = ['./scda_r50_kaiming_cub.py']

model = dict(
    backbone=dict(
        _delete_=True,
        type='SCDATorchvisionNet',
        arch='vgg16',
        activation='relu',
        init='torchvision',
        seed=0))
