# MoCo v2 baseline (800 epochs, Tobias paper subset settings) on IN-50k:
#   python tools/create_subset.py data/imagenet/train data/imagenet/in50k --num 50000
_base_ = './mocov2_resnet50_8xb32-coslr-800e_in10k-112px.py'

train_dataloader = dict(dataset=dict(data_root='data/imagenet/in50k'))
