# Table 2 row 15: VGG-16 with sigmoid.
_base_ = ['./scda_r50_kaiming_cub.py']

model = dict(
    backbone=dict(
        _delete_=True,
        type='SCDATorchvisionNet',
        arch='vgg16',
        activation='sigmoid',
        init='torchvision',
        seed=0))
