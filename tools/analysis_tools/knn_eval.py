# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""kNN accuracy of a pretrained backbone on frozen features (config-driven).

    python tools/analysis_tools/knn_eval.py \
        configs/benchmarks/classification/knn/resnet50_knn-k20-t0.07_folder.py \
        --checkpoint CKPT [--cfg-options data_root=DIR]

Features of ``data_root/train_prefix`` and ``data_root/val_prefix`` (class
sub-folders) are extracted with the config's backbone and pipeline, then
classified with :func:`mmtobias.evaluation.probes.knn_accuracy`. The last line
reads ``knn_top1=X.XX k=K T=T``.
"""
import argparse
import os.path as osp
import sys

import torch
import torch.nn.functional as F
from mmengine.config import Config, DictAction
from mmengine.dataset import default_collate
from mmengine.registry import init_default_scope
from mmengine.runner import CheckpointLoader

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))
import mmtobias  # noqa: E402,F401
from mmpretrain.registry import DATASETS, MODELS  # noqa: E402
from mmtobias.evaluation.probes import knn_accuracy  # noqa: E402


@torch.inference_mode()
def extract(backbone, dataset, cfg):
    loader = torch.utils.data.DataLoader(
        dataset, collate_fn=default_collate, **cfg.extract_dataloader)
    mean = torch.tensor(cfg.data_preprocessor.mean).view(1, 3, 1, 1)
    std = torch.tensor(cfg.data_preprocessor.std).view(1, 3, 1, 1)
    feats, labels = [], []
    for batch in loader:
        x = batch['inputs']
        x = (torch.stack(x) if isinstance(x, list) else x).float()
        x = x.flip(1)  # BGR -> RGB
        out = backbone((x - mean) / std)
        out = out[-1] if isinstance(out, (tuple, list)) else out
        feats.append(F.adaptive_avg_pool2d(out, 1).flatten(1))
        labels.extend(int(s.gt_label) for s in batch['data_samples'])
    return torch.cat(feats).numpy(), labels


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('--checkpoint', help='pretrained checkpoint (random '
                        'init when omitted)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    backbone = MODELS.build(cfg.model)
    if args.checkpoint:
        ckpt = CheckpointLoader.load_checkpoint(args.checkpoint, 'cpu')
        state = ckpt.get('state_dict', ckpt)
        state = {k[len('backbone.'):]: v for k, v in state.items()
                 if k.startswith('backbone.')}
        if not state:
            raise ValueError(f'{args.checkpoint} has no backbone.* weights; '
                             f'pass a self-supervised (MoCo/SimCLR/Tobias) '
                             f'checkpoint.')
        backbone.load_state_dict(state, strict=True)  # the query encoder
    backbone.eval()
    splits = {}
    for split in ('train', 'val'):
        dataset = DATASETS.build(dict(
            type='CustomDataset', data_root=cfg.data_root,
            data_prefix=cfg[f'{split}_prefix'],
            pipeline=cfg.extract_pipeline))
        splits[split] = (dataset, extract(backbone, dataset, cfg))
    (train_ds, (xtr, ytr)), (val_ds, (xva, yva)) = splits['train'], \
        splits['val']
    if train_ds.CLASSES != val_ds.CLASSES:
        raise ValueError(f'train and val class folders differ under '
                         f'{cfg.data_root}: {train_ds.CLASSES[:5]} vs '
                         f'{val_ds.CLASSES[:5]}.')
    acc = knn_accuracy(xtr, ytr, xva, yva, **cfg.knn)
    print(f'{len(ytr)} train / {len(yva)} val images, '
          f'{len(train_ds.CLASSES)} classes')
    print(f"knn_top1={acc:.2f} k={cfg.knn['k']} T={cfg.knn['temperature']}")
    return acc


if __name__ == '__main__':
    main()
