# Table 2 row 5: shallow R-50, blocks [1, 1, 1, 1].
_base_ = ['./scda_r50_kaiming_cub.py']

model = dict(backbone=dict(stage_blocks=(1, 1, 1, 1)))
