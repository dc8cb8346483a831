# Table 2 row 8: R-50 with SELU.
_base_ = ['./scda_r50_kaiming_cub.py']

model = dict(backbone=dict(activation='selu'))
