# Table 2 row 11: R-50, init U(-0.1, 0.1) (the released script's default).
_base_ = ['./scda_r50_kaiming_cub.py']

model = dict(backbone=dict(init='uniform'))
