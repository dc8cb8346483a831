# Table 2 row 6: deep R-50, blocks [6, 8, 12, 6].
_base_ = ['./scda_r50_kaiming_cub.py']

model = dict(backbone=dict(stage_blocks=(6, 8, 12, 6)))
