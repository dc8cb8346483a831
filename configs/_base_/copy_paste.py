# Distilling Localization's copy-paste (Zhao et al. 2021, section 5.2; SPEC section 3)
# with the Tobias map as the saliency source, as one transform every copy-paste config
# shares: with probability 0.3 the foreground of the upsampled Tobias map is pasted on a
# uniform random gray level, hard or Gaussian-blended (Pillow GaussianBlur radius 5, as
# released) with probability 0.5. It reads the top-level `mask_file` (set by the
# TobiasMaskGenerator hook of ./tobias_hooks.py). Each view composites independently,
# before the view's other augmentations.
#
# External saliency maps (a folder mirroring the images, e.g. RBD or BASNet PNGs):
#   dict(type='CopyPaste', saliency='folder', saliency_dir='data/saliency',
#        data_root='data/imagenet/train')  (no mask file / hook needed)
# Other backgrounds: background='texture', texture_dir=... or background='dataset'.
copy_paste = dict(
    type='CopyPaste',
    prob=0.3,
    saliency='tobias',
    background='gray',
    blend='mix',
    blend_prob=0.5,
    blur_radius=5)  # Pillow GaussianBlur(5), as released
