# The standard R-50 (layer4 stride 2, 7x7 at 224).
_base_ = ['./scda_r50_kaiming_cub.py']

model = dict(backbone=dict(layer4_stride=2))
