# Table 2 row 16: VGG-16 with arctan.
_base_ = ['./scda_r50_kaiming_cub.py']

model = dict(
    backbone=dict(
        _delete_=True,
        type='SCDATorchvisionNet',
        arch='vgg16',
        activation='arctan',
        init='torchvision',
        seed=0))
