# Table 1: R-50 truncated after conv1 (stem conv + BN + ReLU, 112x112 at 224).
_base_ = ['./scda_r50_kaiming_cub.py']

model = dict(backbone=dict(num_stages=1))
