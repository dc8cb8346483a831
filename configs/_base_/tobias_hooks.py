# The hooks of every Tobias pretraining config: a config lists this file among its
# bases and sets `custom_hooks = _base_.tobias_hooks` and a top-level `mask_file`.
#
# One place to set the mask file: the top-level `mask_file`. The TobiasMaskGenerator
# hook (no `mask_file` of its own) writes the random-CNN masks of the training images
# there before the first iteration (nothing to do when the file already matches the
# dataset) and hands the path to every BackgroundSwap, CopyPaste and InsLocComposite of
# the training pipeline (written without `mask_file`; the random-merge and Mixup modes
# read their donor list from it too) before the DataLoader workers start. So one
# override moves it:
#
#   python tools/train.py configs/mocov2_tobias_r50.py \
#       --cfg-options mask_file=/path/to/masks.tmask
#
# One mask file per dataset: to keep masks of several datasets, give each run its own
# file (the hook regenerates a file that does not match the training images).
tobias_hooks = [
    dict(type='SkippedFilesLogger'),  # the unreadable images skipped per epoch
    dict(type='TobiasMaskGenerator', seed=0),  # makes / checks `mask_file`
]
