# Table 2 row 10: R-50, init N(0, 0.1).
_base_ = ['./scda_r50_kaiming_cub.py']

model = dict(backbone=dict(init='normal'))
