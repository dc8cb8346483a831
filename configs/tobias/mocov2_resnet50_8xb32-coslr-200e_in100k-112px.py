# MoCo v2 baseline (200 epochs, Tobias paper subset settings) on IN-100k:
#   python tools/create_subset.py data/imagenet/train data/imagenet/in100k --num 100000
_base_ = './mocov2_resnet50_8xb32-coslr-200e_in10k-112px.py'

train_dataloader = dict(dataset=dict(data_root='data/imagenet/in100k'))
