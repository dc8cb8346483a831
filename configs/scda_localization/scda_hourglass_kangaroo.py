# Random hourglass (Tobias Table 2 row 21), SPEC section 5 protocol, 3 seeds, on kangaroo.
# The full-resolution maps cost ~30 GMAC per image, hence the smaller batch.
_base_ = [
    './_base_/models/scda_hourglass.py',
    './_base_/datasets/kangaroo_localization.py',
    './_base_/scda_runtime.py',
]

test_dataloader = dict(batch_size=8)
