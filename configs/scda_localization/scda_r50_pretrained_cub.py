# SCDA with a pretrained R-50 (e.g. a MoCo v2 / Tobias checkpoint of this
# project). Either pass the checkpoint to tools/test.py:
#   python tools/test.py configs/scda_localization/scda_r50_pretrained_cub.py \
#       work_dirs/mocov2_r50/epoch_200.pth
# (its backbone.* keys are copied into the localizer), or set
#   --cfg-options model.backbone.checkpoint=PATH
# A checkpoint has one set of weights: one pass, no seeds. The stride-1 layer4
# of the evaluation protocol is kept (weights do not depend on the stride).
_base_ = ['./scda_r50_kaiming_cub.py']

model = dict(seeds=None, backbone=dict(checkpoint=None))
