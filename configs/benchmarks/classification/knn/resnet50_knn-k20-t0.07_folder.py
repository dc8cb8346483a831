# Weighted kNN evaluation (k = 20, T = 0.07; Wu et al. 2018, the MoCo / mmselfsup kNN
# protocol) of a pretrained ResNet-50 on frozen, global-average-pooled last-stage
# features of a labelled folder pair (train/<class>/..., val/<class>/...):
#
#   python tools/analysis_tools/knn_eval.py \
#       configs/benchmarks/classification/knn/resnet50_knn-k20-t0.07_folder.py \
#       --checkpoint work_dirs/.../epoch_200.pth \
#       --cfg-options data_root=data/imagenette-5k
#
# The last printed line reads `knn_top1=...`. Any mmtobias / mmpretrain
# self-supervised checkpoint works (its `backbone.` keys are loaded).
default_scope = 'mmpretrain'
custom_imports = dict(imports=['mmtobias'], allow_failed_imports=False)

data_root = 'data/imagenet'
train_prefix = 'train'
val_prefix = 'val'
input_size = 224

model = dict(type='ResNet', depth=50, out_indices=(3, ), norm_cfg=dict(type='BN'))
knn = dict(k=20, temperature=0.07)

data_preprocessor = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375])
extract_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=input_size * 8 // 7, edge='short', backend='pillow'),
    dict(type='CenterCrop', crop_size=input_size),
    dict(type='PackInputs'),
]
extract_dataloader = dict(batch_size=64, num_workers=4)
