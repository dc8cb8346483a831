# Table 2 row 12: R-50, Xavier init.
_base_ = ['./scda_r50_kaiming_cub.py']

model = dict(backbone=dict(init='xavier'))
