# Table 2 row 18: random VGG-19 (pool5).
_base_ = ['./scda_r50_kaiming_cub.py']

model = dict(
    backbone=dict(
        _delete_=True,
        type='SCDATorchvisionNet',
        arch='vgg19',
        activation='relu',
        init='torchvision',
        seed=0))
