# MoCo v2 baseline with the Tobias paper's ImageNet-subset settings (Table 5; released
# main_moco.py --lr 0.3 --batch-size 256 --epochs 200 --input-size 112 --mlp
# --moco-t 0.2 --aug-plus --cos --moco-k 65536): ResNet-50, 8 GPUs x 32 images, input
# 112, lr 0.3, queue 65536, temperature 0.2, cosine schedule.
#
# IN-10k: a label-free random subset of ImageNet train, e.g.
#   python tools/create_subset.py data/imagenet/train data/imagenet/in10k --num 10000
_base_ = '../mocov2_r50.py'

data_root = 'data/imagenet/in10k'
input_size = 112

# The MoCo v2 views (configs/_base_/pipelines/mocov2_views.py) at the paper's input size.
view_pipeline = [dict(_base_.view_pipeline[0], scale=input_size), *_base_.view_pipeline[1:]]

train_pipeline = [
    *_base_.load_pipeline,
    dict(type='MultiView', num_views=2, transforms=[view_pipeline]),
    *_base_.pack_pipeline,
]

train_dataloader = dict(batch_size=32, dataset=dict(data_root=data_root, pipeline=train_pipeline))

model = dict(queue_len=65536, head=dict(temperature=0.2))

optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.3, weight_decay=1e-4, momentum=0.9))
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=200, by_epoch=True, begin=0, end=200)
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=200)

auto_scale_lr = dict(base_batch_size=256)
