# MoCo v2 + Tobias on IN-50k (Tobias paper, Table 5): the IN-10k config (the
# baseline's settings: input 112, lr 0.3, batch 256, queue 65536, T 0.2, cosine, plus
# the background swap with p = 0.3 on the query view) on the IN-50k subset, with its
# own mask file (the hook makes the masks on the first run):
#   python tools/create_subset.py data/imagenet/train data/imagenet/in50k --num 50000
_base_ = './mocov2-tobias_resnet50_8xb32-coslr-200e_in10k-112px.py'

mask_file = 'work_dirs/tobias_masks/in50k.tmask'

train_dataloader = dict(dataset=dict(data_root='data/imagenet/in50k'))
