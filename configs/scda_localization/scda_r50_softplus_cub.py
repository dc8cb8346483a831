# Table 2 row 9: R-50 with softplus.
_base_ = ['./scda_r50_kaiming_cub.py']

model = dict(backbone=dict(activation='softplus'))
