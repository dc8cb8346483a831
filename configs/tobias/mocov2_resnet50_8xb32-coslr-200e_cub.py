# MoCo v2 baseline pretrained on CUB-200-2011 only (Tobias paper, Table 3; the
# protocol of Cao & Wu, "Rethinking self-supervised learning: small is beautiful"):
# mmpretrain's MoCo v2 settings (input 224, batch 256, lr 0.03, cosine) on the 5,994
# train images (labels unused). data_root holds images/, images.txt,
# image_class_labels.txt and train_test_split.txt.
_base_ = '../mocov2_r50.py'

data_root = 'data/CUB_200_2011'

train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='CUB',
        data_root=data_root,
        split='train',
        pipeline=_base_.train_pipeline))  # the MoCo v2 pipeline of ../mocov2_r50.py
