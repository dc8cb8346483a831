# Table 1: R-50 with every ReLU replaced by arctan.
_base_ = ['./scda_r50_kaiming_cub.py']

model = dict(backbone=dict(activation='arctan'))
