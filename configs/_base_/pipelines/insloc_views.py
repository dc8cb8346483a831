# The InsLoc per-view augmentations: the MoCo v2 views of ./mocov2_views.py without
# their first step, the random resized crop, because InsLocComposite has already cropped
# and pasted each view (MultiViewWithBoxes moves the box with the flip).
_base_ = './mocov2_views.py'

insloc_view_pipeline = _base_.mocov2_view_pipeline[1:]
