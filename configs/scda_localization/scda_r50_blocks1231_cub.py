# Table 2 row 4: shallow R-50, blocks [1, 2, 3, 1].
_base_ = ['./scda_r50_kaiming_cub.py']

model = dict(backbone=dict(stage_blocks=(1, 2, 3, 1)))
