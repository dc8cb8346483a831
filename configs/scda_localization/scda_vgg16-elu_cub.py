# Table 2 row 17: VGG-16 with ELU.
_base_ = ['./scda_r50_kaiming_cub.py']

model = dict(
    backbone=dict(
        _delete_=True,
        type='SCDATorchvisionNet',
        arch='vgg16',
        activation='elu',
        init='torchvision',
        seed=0))
