# Table 2 row 13: random VGG-11 (pool5, PyTorch model-zoo init).
_base_ = ['./scda_r50_kaiming_cub.py']

model = dict(
    backbone=dict(
        _delete_=True,
        type='SCDATorchvisionNet',
        arch='vgg11',
        activation='relu',
        init='torchvision',
        seed=0))
