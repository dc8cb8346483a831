# R50-C4 Faster R-CNN of the MoCo detection protocol: pytorch-style ResNet (RGB,
# ImageNet mean/std, like self-supervised checkpoints), SyncBN everywhere, no frozen
# stage, and the res5 shared head with an extra norm. Weights come from
# tools/det_train.py --pretrained (or model.init_cfg), so no ImageNet init here.
_base_ = 'mmdet::_base_/models/faster-rcnn_r50-caffe-c4.py'

norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    data_preprocessor=dict(
        mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], bgr_to_rgb=True),
    backbone=dict(
        frozen_stages=-1, norm_cfg=norm_cfg, norm_eval=False, style='pytorch',
        init_cfg=None),
    roi_head=dict(
        shared_head=dict(
            type='SharedResLayerExtraNorm', style='pytorch', norm_cfg=norm_cfg,
            norm_eval=False, init_cfg=None)))
