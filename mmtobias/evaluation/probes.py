# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""Frozen-feature probes of a pretrained backbone: kNN and a linear classifier.

The classic self-supervised read-outs, as plain functions: features are extracted once
(global-average-pooled last stage of a centre crop, by
:func:`mmtobias.evaluation.features.extract_features`), then

- :func:`knn_accuracy`: weighted kNN on L2-normalised features (cosine similarity,
  votes weighted by ``exp(sim / T)``, k = 20, T = 0.07, as in Wu et al. 2018 and the
  MoCo/mmselfsup kNN protocol);
- :func:`linear_probe_accuracy`: a multinomial logistic regression on standardised
  features, trained full-batch with L-BFGS (deterministic, seconds on a CPU).

They are meant for small studies; mmpretrain's linear-evaluation configs remain the
reference protocol for ImageNet-scale numbers.
"""
import os
import os.path as osp

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .features import extract_features as _extract_features

from mmtobias.utils.image_files import IMG_EXTENSIONS


def list_labelled_images(root):
    """``root/<class>/<image>`` -> (paths, integer labels, class names), sorted."""
    if not osp.isdir(root):
        raise FileNotFoundError(f'{root} is not a folder of class sub-folders')
    classes = sorted(d for d in os.listdir(root) if osp.isdir(osp.join(root, d)))
    if not classes:
        raise ValueError(f'{root} has no class sub-folders (expected root/<class>/<image>)')
    paths, labels = [], []
    for label, cls in enumerate(classes):
        for dirpath, _, files in sorted(os.walk(osp.join(root, cls))):
            for name in sorted(files):
                if name.lower().endswith(IMG_EXTENSIONS):
                    paths.append(osp.join(dirpath, name))
                    labels.append(label)
    return paths, np.asarray(labels, dtype=np.int64), classes


class _CenterCropDataset(torch.utils.data.Dataset):
    """The images of ``paths`` as ``3 x size x size`` uint8 RGB tensors."""

    def __init__(self, paths, size):
        self.paths, self.size = paths, size

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        img = Image.open(self.paths[i]).convert('RGB')
        # resize the short side to size / 0.875, centre crop size (the usual eval view)
        short = round(self.size / 0.875)
        w, h = img.size
        scale = short / min(w, h)
        img = img.resize((max(1, round(w * scale)), max(1, round(h * scale))),
                         Image.BILINEAR)
        w, h = img.size
        left, top = (w - self.size) // 2, (h - self.size) // 2
        img = img.crop((left, top, left + self.size, top + self.size))
        return torch.from_numpy(np.asarray(img).transpose(2, 0, 1).copy())


def extract_features(backbone, paths, size=112, batch_size=64, num_workers=2):
    """Features of image files: the centre-crop view above through
    :func:`mmtobias.evaluation.features.extract_features` (ImageNet normalisation,
    global-average-pooled last stage, eval mode restored afterwards).

    Returns:
        np.ndarray: ``N x C`` float32, in the order of ``paths``.
    """
    loader = torch.utils.data.DataLoader(
        _CenterCropDataset(paths, size), batch_size=batch_size, num_workers=num_workers)
    return _extract_features(backbone, loader).cpu().numpy()


def knn_accuracy(train_feats, train_labels, test_feats, test_labels, k=20, temperature=0.07,
                 chunk=1024):
    """Top-1 accuracy (%) of a similarity-weighted kNN classifier."""
    train = F.normalize(torch.as_tensor(train_feats, dtype=torch.float32), dim=1)
    test = F.normalize(torch.as_tensor(test_feats, dtype=torch.float32), dim=1)
    train_labels = torch.as_tensor(train_labels)
    num_classes = int(train_labels.max()) + 1
    k = min(k, train.shape[0])
    preds = []
    for start in range(0, test.shape[0], chunk):
        sim = test[start:start + chunk] @ train.T  # q x N
        top_sim, top_idx = sim.topk(k, dim=1)
        votes = torch.zeros(sim.shape[0], num_classes)
        votes.scatter_add_(1, train_labels[top_idx], (top_sim / temperature).exp())
        preds.append(votes.argmax(1))
    preds = torch.cat(preds).numpy()
    return float((preds == np.asarray(test_labels)).mean() * 100)


def linear_probe_accuracy(train_feats, train_labels, test_feats, test_labels,
                          weight_decay=1e-4, max_iter=200):
    """Top-1 accuracy (%) of a logistic-regression probe on standardised features."""
    x = torch.as_tensor(train_feats, dtype=torch.float64)
    mean, std = x.mean(0), x.std(0).clamp_min(1e-6)
    x = (x - mean) / std
    xt = (torch.as_tensor(test_feats, dtype=torch.float64) - mean) / std
    y = torch.as_tensor(train_labels)
    num_classes = int(y.max()) + 1
    linear = torch.nn.Linear(x.shape[1], num_classes).double()
    torch.nn.init.zeros_(linear.weight)
    torch.nn.init.zeros_(linear.bias)
    opt = torch.optim.LBFGS(linear.parameters(), max_iter=max_iter, line_search_fn='strong_wolfe')

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(linear(x), y) + weight_decay * linear.weight.pow(2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    with torch.no_grad():
        pred = linear(xt).argmax(1).numpy()
    return float((pred == np.asarray(test_labels)).mean() * 100)
