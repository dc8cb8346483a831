# Table 2 row 19: random AlexNet (pool5, 6x6 at 224).
_base_ = ['./scda_r50_kaiming_cub.py']

model = dict(
    backbone=dict(
        _delete_=True,
        type='SCDATorchvisionNet',
        arch='alexnet',
        activation='relu',
        init='torchvision',
        seed=0))
