# Faster R-CNN R50-FPN on VOC07+12 trainval -> VOC07 test (Tobias Table 4, left): SyncBN
# in backbone, FPN and 4conv-1fc box head; same data, schedule and metric as the C4 one.
# Initialise from a self-supervised checkpoint (InsLoc-FPN also fills neck, head convs, fc1):
#   python tools/det_train.py THIS_CONFIG --pretrained CKPT --data-root DATA_ROOT
#   bash tools/benchmarks/mmdetection/dist_train_fpn.sh THIS_CONFIG CKPT 8
_base_ = [
    '../_base_/models/faster-rcnn_r50_fpn_syncbn.py',
    '../_base_/datasets/voc0712_ms.py',
    '../_base_/schedules/sgd_24k.py',
]
custom_imports = dict(imports=['mmtobias', 'mmtobias.det'], allow_failed_imports=False)

model = dict(roi_head=dict(bbox_head=dict(num_classes=20)))
