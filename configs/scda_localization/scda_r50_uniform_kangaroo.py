# Random R-50 with U(-0.1, 0.1) init (the released script's default), 3 seeds.
_base_ = ['./scda_r50_kaiming_kangaroo.py']

model = dict(backbone=dict(init='uniform'))
