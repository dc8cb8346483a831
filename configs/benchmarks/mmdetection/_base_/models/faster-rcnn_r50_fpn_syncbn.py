# R50-FPN Faster R-CNN with SyncBN in the backbone (no frozen stage), the FPN and a
# 4conv-1fc box head: the detector InsLoc pretrains, so an InsLoc-FPN checkpoint
# initialises neck.*, the head convs and fc1 as well as the backbone.
_base_ = 'mmdet::_base_/models/faster-rcnn_r50_fpn.py'

norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    backbone=dict(frozen_stages=-1, norm_cfg=norm_cfg, norm_eval=False, init_cfg=None),
    neck=dict(norm_cfg=norm_cfg),
    roi_head=dict(bbox_head=dict(type='Shared4Conv1FCBBoxHead', norm_cfg=norm_cfg)))
