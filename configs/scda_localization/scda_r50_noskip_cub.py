# Table 2 row 2: R-50 without skip connections.
_base_ = ['./scda_r50_kaiming_cub.py']

model = dict(backbone=dict(with_skip=False))
