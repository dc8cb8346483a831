# Mask R-CNN R50-C4 (InsLoc Table 2a) on COCO train2017 -> val2017, 1x schedule (90k
# iterations at batch 16, lr 0.02), SyncBN everywhere, multi-scale train 640-800, test
# 800; COCO bbox/segm metrics plus mAP at IoU 0.1 ... 0.9.
# Initialise from a self-supervised checkpoint (backbone.layer4 goes into the res5 head):
#   python tools/det_train.py THIS_CONFIG --pretrained CKPT --data-root DATA_ROOT
#   bash tools/benchmarks/mmdetection/dist_train_c4.sh THIS_CONFIG CKPT 8
_base_ = [
    '../_base_/models/mask-rcnn_r50-c4_syncbn.py',
    '../_base_/datasets/coco_instance_ms.py',
    '../_base_/schedules/sgd_90k.py',
]
custom_imports = dict(imports=['mmtobias', 'mmtobias.det'], allow_failed_imports=False)
