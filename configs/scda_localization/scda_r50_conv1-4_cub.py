# Table 1: R-50 truncated after conv4_x (layer3).
_base_ = ['./scda_r50_kaiming_cub.py']

model = dict(backbone=dict(num_stages=4))
