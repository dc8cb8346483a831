# SCDA localizer, Table 1 row 1 of the Tobias paper: random ResNet-50,
# PyTorch's default Kaiming (fan_out) init, layer4 stride 1 (14x14 at 224),
# channel sum > mean, largest 8-connected component, nearest upsampling.
# Three seeds in one pass; the metric reports mean ± std over them.
seeds = [0, 1, 2]
model = dict(
    type='SCDALocalizer',
    backbone=dict(
        type='SCDAResNet',
        depth=50,
        num_stages=5,
        layer4_stride=1,
        activation='relu',
        with_bn=True,
        with_skip=True,
        init='kaiming',
        seed=0),
    seeds=seeds,
    threshold='mean',
    connectivity=8,
    upsample='nearest')
