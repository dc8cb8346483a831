# Table 2 row 21: a random hourglass network (the encoder-decoder with skips of Deep
# Image Prior, built as the released code's U-Net: 4 levels down and up, bilinear
# upsampling, PyTorch's default init), its last decoder map (64 x 224 x 224).
_base_ = ['./scda_r50.py']

model = dict(
    backbone=dict(
        _delete_=True,
        type='SCDAHourglass',
        base_channels=64,
        num_levels=4,
        upsample='bilinear',
        activation='relu',
        with_bn=True,
        init='torchvision',
        seed=0))
