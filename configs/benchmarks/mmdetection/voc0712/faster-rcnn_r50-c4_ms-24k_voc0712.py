# Faster R-CNN R50-C4 on VOC07+12 trainval -> VOC07 test: the MoCo / Tobias (Table 4) /
# InsLoc (Sec. 5.1.1) protocol. SyncBN everywhere, res5 shared head with an extra norm,
# lr 0.02, 24k iterations, steps 18k / 22k, multi-scale train 480-800, test 800, VOC07
# metric (AP50, AP, AP75 and mAP at IoU 0.1 ... 0.9).
# Initialise from a self-supervised checkpoint (backbone.layer4 goes into the res5 head):
#   python tools/det_train.py THIS_CONFIG --pretrained CKPT --data-root DATA_ROOT
#   bash tools/benchmarks/mmdetection/dist_train_c4.sh THIS_CONFIG CKPT 8
_base_ = [
    '../_base_/models/faster-rcnn_r50-c4_syncbn.py',
    '../_base_/datasets/voc0712_ms.py',
    '../_base_/schedules/sgd_24k.py',
]
custom_imports = dict(imports=['mmtobias', 'mmtobias.det'], allow_failed_imports=False)

model = dict(roi_head=dict(bbox_head=dict(num_classes=20)))
