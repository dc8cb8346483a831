# Table 2 row 7: R-50 with ELU.
_base_ = ['./scda_r50_kaiming_cub.py']

model = dict(backbone=dict(activation='elu'))
