# Table 2 row 3: R-50 without batch normalization.
_base_ = ['./scda_r50_kaiming_cub.py']

model = dict(backbone=dict(with_bn=False))
