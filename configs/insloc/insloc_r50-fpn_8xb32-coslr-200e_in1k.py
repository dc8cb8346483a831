# InsLoc, ResNet-50-FPN: every box is RoIAligned (7x7) from all four FPN levels
# (strides 4/8/16/32, no size-based assignment; the FPN with BN), embedded by one shared head
# (4 conv3x3-256 + BN, 2 fc-1024, fc-128), with one contrastive loss and one
# queue per level. The query box is augmented on the coarsest level only, as
# in the released code. Same data and schedule as the C4 config.
_base_ = 'insloc_r50-c4_8xb32-coslr-200e_in1k.py'

model = dict(
    roi_strides=(4, 8, 16, 32),
    bbox_aug_levels=(-1, ),
    backbone=dict(out_indices=(0, 1, 2, 3)),
    neck=dict(
        _delete_=True,
        type='mmdet.FPN',
        in_channels=[256, 512, 1024, 2048],
        out_channels=256,
        num_outs=4,
        # BN in the FPN as released (so its convs carry no bias): the detector's FPN
        # (norm_cfg SyncBN) then loads every neck tensor of the checkpoint strictly.
        norm_cfg=dict(type='BN')),
    box_head=dict(
        type='InsLocBoxHead',
        in_channels=256,
        roi_size=7,
        num_convs=4,
        conv_channels=256,
        num_fcs=2,
        fc_channels=1024,
        out_channels={{_base_.feat_dim}},
        norm_cfg=dict(type='BN')))

custom_imports = dict(
    imports=['mmtobias', 'mmdet.models'], allow_failed_imports=False)
