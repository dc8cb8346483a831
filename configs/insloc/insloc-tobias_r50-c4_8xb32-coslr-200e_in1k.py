# Tobias-guided InsLoc R50-C4 (mmtobias extension, off in the faithful configs):
# each view pastes the bounding box of the image's Tobias foreground cells (random-
# CNN SCDA, SPEC section 1) instead of a random crop; paste size, position,
# backgrounds and colour augmentations stay random.
#
# The TobiasMaskGenerator hook (configs/_base_/tobias_hooks.py) writes the masks of the
# training images to `mask_file` before the first iteration and gives the path to
# InsLocComposite, which switches to the Tobias crop; one override moves it:
#
#   python tools/train.py configs/insloc_tobias_r50-c4.py \
#       --cfg-options mask_file=/path/to/masks.tmask
_base_ = ['insloc_r50-c4_8xb32-coslr-200e_in1k.py', '../_base_/tobias_hooks.py']

mask_file = 'work_dirs/tobias_masks/insloc-tobias_r50-c4.tmask'

# the only change: the composite's crop is the Tobias box (mask_file: set by the hook;
# crop_ratio_range is then unused), half of the cells counted as foreground
composite = dict(_base_.composite, fg_fraction=0.5)
train_pipeline = [
    *_base_.load_pipeline,
    composite,
    *_base_.train_pipeline[2:],  # the views and the packing of the base config
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))

custom_hooks = _base_.tobias_hooks
