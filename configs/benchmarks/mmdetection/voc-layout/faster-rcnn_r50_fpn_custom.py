# Faster R-CNN R50-FPN transfer to any VOC-layout dataset with its own classes, with
# the VOC protocol's model and 24k schedule at 16 images per iteration (det_train.py
# scales lr and schedule to your total batch, see README "Fine-tuning on fewer GPUs";
# --max-iters shortens the run, steps and warm-up alike). Example on the kangaroo photos:
#   python tools/dataset_converters/pairs_to_voc.py ../shared/data/kangaroo /tmp/kangaroo_voc
#   python tools/det_train.py THIS_CONFIG --pretrained CKPT --data-root /tmp/kangaroo_voc \
#       --max-iters 2000            # classes are read from /tmp/kangaroo_voc/classes.txt
_base_ = [
    '../_base_/models/faster-rcnn_r50_fpn_syncbn.py',
    '../_base_/datasets/voc_layout_custom.py',
    '../_base_/schedules/sgd_24k.py',
]
custom_imports = dict(imports=['mmtobias', 'mmtobias.det'], allow_failed_imports=False)

data_root = 'data/custom/'
classes = ('object', )  # the class names of your XML files, in label order

model = dict(roi_head=dict(bbox_head=dict(num_classes=len(classes))))
train_dataloader = dict(dataset=dict(data_root=data_root, metainfo=dict(classes=classes)))
val_dataloader = dict(dataset=dict(data_root=data_root, metainfo=dict(classes=classes)))
test_dataloader = val_dataloader
