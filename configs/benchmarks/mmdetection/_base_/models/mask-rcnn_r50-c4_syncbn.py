# R50-C4 Mask R-CNN of the MoCo / InsLoc COCO protocol: as faster-rcnn_r50-c4_syncbn.py,
# with the mask branch on the same res5 head.
_base_ = 'mmdet::_base_/models/mask-rcnn_r50-caffe-c4.py'

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
