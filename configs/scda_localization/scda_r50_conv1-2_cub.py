# Table 1: R-50 truncated after conv2_x (layer1).
_base_ = ['./scda_r50_kaiming_cub.py']

model = dict(backbone=dict(num_stages=2))
