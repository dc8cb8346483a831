# Tobias-guided InsLoc R50-C4 (mmtobias extension, off in the faithful configs):
# each view pastes the bounding box of the image's Tobias foreground cells (random-
# CNN SCDA, SPEC section 1) instead of a random crop; paste size, position,
# backgrounds and colour augmentations stay random.
#
# The TobiasMaskGenerator hook writes the masks of the training images to
# `mask_file` before the first iteration; InsLocComposite reads it lazily.
_base_ = 'insloc_r50-c4_8xb32-coslr-200e_in1k.py'

mask_file = 'work_dirs/tobias_masks/insloc-tobias_r50-c4.tmask'

train_pipeline = [
    dict(type='SafeLoadImageFromFile', decoder='cv2', on_error='skip', truncated='skip'),
    dict(
        type='InsLocComposite',
        bg_size={{_base_.bg_size}},
        paste_size_range=(128, 255),
        crop_ratio_range=(0.2, 1.0),  # unused: the crop is the Tobias box
        aspect_ratio_range=(0.5, 2.0),
        mask_file=mask_file,
        fg_fraction=0.5),
    dict(type='MultiViewWithBoxes', transforms=[{{_base_.view_pipeline}}]),
    dict(type='PackInputs', algorithm_keys=['gt_bboxes', 'skipped_files']),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))

custom_hooks = [
    dict(type='SkippedFilesLogger'),
    dict(type='TobiasMaskGenerator', mask_file=mask_file, seed=0)
]
