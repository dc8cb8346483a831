# MoCo v2 + copy-paste backgrounds (Distilling Localization, Zhao et al. 2021, §5.2;
# SPEC section 3) with the Tobias map as the saliency source: with probability 0.3 the
# foreground of the upsampled Tobias map is pasted on a uniform random gray level, hard
# or Gaussian-blended (Pillow GaussianBlur radius 5, as released) with probability 0.5.
# Each view composites independently, before the other augmentations. The masks are
# the hook's `mask_file` of ./mocov2_tobias_r50.py.
#
#   python tools/train.py configs/mocov2_copypaste_r50.py \
#       --cfg-options train_dataloader.dataset.data_root=/path/to/images
#
# External saliency maps (a folder mirroring the images, e.g. RBD or BASNet PNGs):
#   dict(type='CopyPaste', saliency='folder', saliency_dir='data/saliency',
#        data_root='data/imagenet/train')  (no mask file / hook needed)
# Other backgrounds: background='texture', texture_dir=... or background='dataset'.
_base_ = './mocov2_tobias_r50.py'

copy_paste = dict(
    type='CopyPaste',
    prob=0.3,
    saliency='tobias',
    background='gray',
    blend='mix',
    blend_prob=0.5,
    blur_radius=5)  # Pillow GaussianBlur(5), as released

# both views: copy-paste, then the MoCo v2 augmentations
train_pipeline = [
    *_base_.load_pipeline,
    dict(
        type='MultiView',
        num_views=2,
        transforms=[[copy_paste, *_base_.view_pipeline]]),
    *_base_.pack_pipeline,
]

train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
