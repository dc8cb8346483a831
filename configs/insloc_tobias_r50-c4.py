# Tobias-guided InsLoc R50-C4, short name of
# configs/insloc/insloc-tobias_r50-c4_8xb32-coslr-200e_in1k.py. Train on any folder:
#   python tools/train.py configs/insloc_tobias_r50-c4.py \
#       --cfg-options train_dataloader.dataset.data_root=/path/to/images
_base_ = 'insloc/insloc-tobias_r50-c4_8xb32-coslr-200e_in1k.py'
