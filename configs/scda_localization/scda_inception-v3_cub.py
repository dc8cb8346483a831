# Table 2 row 20: random Inception v3 (Mixed_7c, 5x5 at 224).
_base_ = ['./scda_r50_kaiming_cub.py']

model = dict(
    backbone=dict(
        _delete_=True,
        type='SCDATorchvisionNet',
        arch='inception_v3',
        activation='relu',
        init='torchvision',
        seed=0))
