# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
import numpy as np
import pytest
from mmpretrain.registry import MODELS

import mmtobias  # noqa: F401
from mmtobias.evaluation.probes import (extract_features, knn_accuracy,
                                        linear_probe_accuracy, list_labelled_images)


def _blobs(n_per_class, num_classes=3, dim=8, spread=0.3, seed=0):
    centres = np.random.default_rng(123).normal(size=(num_classes, dim)) * 3
    rng = np.random.default_rng(seed)
    x = np.concatenate([c + spread * rng.normal(size=(n_per_class, dim)) for c in centres])
    y = np.repeat(np.arange(num_classes), n_per_class)
    return x.astype(np.float32), y


def test_probes_separate_separable_classes():
    xtr, ytr = _blobs(30)
    xte, yte = _blobs(10, seed=1)  # new points around the same centres
    assert knn_accuracy(xtr, ytr, xte, yte, k=5) == 100.0
    assert linear_probe_accuracy(xtr, ytr, xte, yte) == 100.0


def test_probes_are_at_chance_on_random_labels():
    rng = np.random.default_rng(0)
    xtr, xte = rng.normal(size=(600, 16)), rng.normal(size=(600, 16))
    ytr, yte = rng.integers(0, 4, 600), rng.integers(0, 4, 600)
    assert abs(knn_accuracy(xtr, ytr, xte, yte) - 25) < 8
    assert abs(linear_probe_accuracy(xtr, ytr, xte, yte) - 25) < 8


def test_knn_weights_votes_by_similarity():
    # Two far neighbours of class 1 against one exact match of class 0: k=3 picks 0.
    train = np.array([[1, 0], [0, 1], [0.1, 1]], dtype=np.float32)
    labels = np.array([0, 1, 1])
    assert knn_accuracy(train, labels, np.array([[1, 0]], np.float32), [0], k=3) == 100.0


def test_extract_features_and_listing(image_folder):
    paths, labels, classes = list_labelled_images(image_folder)
    assert classes == ['a', 'b'] and len(paths) == 8 and labels.tolist().count(1) == 4
    backbone = MODELS.build(dict(type='ResNet', depth=18))
    feats = extract_features(backbone, paths, size=32, batch_size=4, num_workers=0)
    assert feats.shape == (8, 512) and np.isfinite(feats).all()


def test_listing_rejects_flat_folder(tmp_path):
    (tmp_path / 'x.jpg').write_bytes(b'')
    with pytest.raises(ValueError, match='no class sub-folders'):
        list_labelled_images(str(tmp_path))
