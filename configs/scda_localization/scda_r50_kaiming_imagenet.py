# Random R-50 (Kaiming), SPEC section 5 protocol, 3 seeds, on imagenet.
_base_ = [
    './_base_/models/scda_r50.py',
    './_base_/datasets/imagenet_localization.py',
    './_base_/scda_runtime.py',
]
