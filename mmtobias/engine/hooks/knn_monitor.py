# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""Online kNN accuracy of the backbone being pretrained (a learning curve)."""
import time
from typing import List, Optional, Tuple

import numpy as np
import torch
import torch.nn as nn
from mmengine.dataset import default_collate
from mmengine.dist import get_dist_info
from mmengine.hooks import Hook, LoggerHook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmpretrain.registry import DATASETS, HOOKS

from mmtobias.evaluation.features import extract_features, gather_rows  # noqa: F401
from mmtobias.evaluation.probes import knn_accuracy

__all__ = ['KNNMonitor', 'eval_pipeline']


def eval_pipeline(image_size: int) -> List[dict]:
    """Resize the short side to ``image_size / 0.875``, centre-crop
    ``image_size`` (the kNN protocol's eval view); files that do not decode
    fully are loaded as far as they go, with a warning."""
    return [
        dict(type='SafeLoadImageFromFile'),
        dict(type='ResizeEdge', scale=round(image_size / 0.875), edge='short',
             backend='pillow', interpolation='bilinear'),
        dict(type='CenterCrop', crop_size=image_size),
        dict(type='PackInputs'),
    ]


@HOOKS.register_module()
class KNNMonitor(Hook):
    """kNN top-1 of the backbone being trained, every ``interval`` epochs
    (or iterations), on a labelled train / val folder pair.

    The read-out is :func:`mmtobias.evaluation.probes.knn_accuracy` (cosine
    similarity, votes ``exp(sim / T)``, k = 20, T = 0.07) on the
    globally pooled last stage of ``model.<backbone>`` (for MoCo / SimCLR /
    InsLoc the query encoder, ``model.backbone``), extracted by
    :func:`mmtobias.evaluation.features.extract_features`: in eval mode and
    without gradients, the backbone's train / eval mode restored afterwards. The
    images of both folders (ImageNet layout, ``root/<class>/<image>``) go
    through :func:`eval_pipeline` and the model's ``data_preprocessor``.
    Every rank extracts a strided share of the images; the features are
    gathered, so every rank computes the same accuracy.

    Logged (``prefix`` = 'knn'): ``knn/top1`` (%), ``knn/seconds`` (the
    evaluation's wall time) and ``knn/time_share`` (those seconds over the
    training seconds since the previous evaluation) go to the message hub,
    to every visualization backend (``scalars.json`` and the LoggerHook's
    ``<timestamp>.json`` of ``vis_data/``, TensorBoard, W&B ...) with step =
    the epoch (or iteration) just finished, and to the log; after training,
    the log also gets the whole run's monitoring seconds and their share.

    Priority 'NORMAL'.

    Args:
        train_root (str): Labelled folder of the kNN memory bank.
        val_root (str): Labelled folder that is classified; same classes.
        interval (int): Evaluate every ``interval`` epochs (``by_epoch``) or
            iterations, and after the last epoch. Defaults to 1.
        by_epoch (bool): Count epochs (True) or iterations. Defaults to True.
        image_size (int): Centre-crop size. Defaults to 224.
        batch_size (int): Images per forward pass. Defaults to 64.
        num_workers (int): DataLoader processes. Defaults to 2.
        k (int): Neighbours. Defaults to 20.
        temperature (float): Vote temperature. Defaults to 0.07.
        max_train_images (int, optional): Use this many images of
            ``train_root``, evenly spaced over the sorted list (so every
            class keeps its share). Defaults to None (all).
        max_val_images (int, optional): The same for ``val_root``.
            Defaults to None (all).
        backbone (str): Attribute path of the backbone inside the
            (unwrapped) model. Defaults to 'backbone'.
        evaluate_at_start (bool): Also evaluate before the first iteration
            (step 0, the initial weights; skipped when resuming).
            Defaults to False.
        prefix (str): Scalar name prefix. Defaults to 'knn'.
    """

    priority = 'NORMAL'

    def __init__(self,
                 train_root: str,
                 val_root: str,
                 interval: int = 1,
                 by_epoch: bool = True,
                 image_size: int = 224,
                 batch_size: int = 64,
                 num_workers: int = 2,
                 k: int = 20,
                 temperature: float = 0.07,
                 max_train_images: Optional[int] = None,
                 max_val_images: Optional[int] = None,
                 backbone: str = 'backbone',
                 evaluate_at_start: bool = False,
                 prefix: str = 'knn') -> None:
        for arg, val in (('train_root', train_root), ('val_root', val_root)):
            if not isinstance(val, str) or not val:
                raise TypeError(f'KNNMonitor: {arg} must be a folder path, '
                                f'got {val!r}; set custom_hooks[...].{arg}.')
        for arg, val, allow_none in (
                ('interval', interval, False), ('image_size', image_size,
                                                False),
                ('batch_size', batch_size, False), ('k', k, False),
                ('max_train_images', max_train_images, True),
                ('max_val_images', max_val_images, True)):
            if val is None and allow_none:
                continue
            if isinstance(val, bool) or not isinstance(val, int) or val < 1:
                raise ValueError(f'KNNMonitor: {arg} must be a positive int'
                                 f'{" or None" if allow_none else ""}, got '
                                 f'{val!r}.')
        if not temperature > 0:
            raise ValueError(f'KNNMonitor: temperature must be > 0, got '
                             f'{temperature!r}.')
        self.train_root, self.val_root = train_root, val_root
        self.interval, self.by_epoch = interval, by_epoch
        self.image_size, self.batch_size = image_size, batch_size
        self.num_workers, self.k = num_workers, k
        self.temperature = float(temperature)
        self.max_images = dict(train=max_train_images, val=max_val_images)
        self.backbone, self.evaluate_at_start = backbone, evaluate_at_start
        self.prefix = prefix
        self._splits = None  # split -> (loader, labels, number of images)
        self._train_seconds = 0.0  # since the last evaluation
        self._totals = [0.0, 0.0]  # monitor seconds, training seconds
        self._tick = None

    # -- data ----------------------------------------------------------------
    def _build_split(self, split: str, root: str) -> Tuple:
        dataset = DATASETS.build(dict(
            type='CustomDataset', data_root=root, data_prefix='',
            with_label=True, pipeline=eval_pipeline(self.image_size)))
        indices = np.arange(len(dataset))
        limit = self.max_images[split]
        if limit is not None and limit < len(indices):
            indices = np.linspace(0, len(indices) - 1, limit).round()
            indices = np.unique(indices.astype(np.int64))
        rank, world_size = get_dist_info()
        if len(indices) < world_size:
            raise ValueError(f'KNNMonitor: {root} gives {len(indices)} '
                             f'images for {world_size} processes; use a '
                             f'larger folder or max_{split}_images.')
        labels = np.array([dataset.get_data_info(int(i))['gt_label']
                           for i in indices], dtype=np.int64)
        loader = torch.utils.data.DataLoader(
            torch.utils.data.Subset(dataset, indices[rank::world_size]),
            batch_size=self.batch_size, num_workers=self.num_workers,
            collate_fn=default_collate, shuffle=False)
        return loader, labels, len(indices), tuple(dataset.metainfo['classes'])

    def _build(self) -> None:
        splits = {s: self._build_split(s, root) for s, root in
                  (('train', self.train_root), ('val', self.val_root))}
        if splits['train'][3] != splits['val'][3]:
            raise ValueError(
                f'KNNMonitor: the class folders of train_root '
                f'{self.train_root} ({list(splits["train"][3])[:5]}...) and '
                f'val_root {self.val_root} ({list(splits["val"][3])[:5]}...) '
                f'differ; both need the same class sub-folders.')
        self._splits = {s: v[:3] for s, v in splits.items()}

    def _get_backbone(self, runner) -> Tuple[nn.Module, nn.Module]:
        model = runner.model.module if is_model_wrapper(runner.model) \
            else runner.model
        module = model
        for name in self.backbone.split('.'):
            if not hasattr(module, name):
                raise ValueError(
                    f'KNNMonitor: {type(model).__name__} has no '
                    f'{self.backbone!r}; set custom_hooks[...].backbone to '
                    f'the attribute path of its backbone.')
            module = getattr(module, name)
        return module, model.data_preprocessor

    # -- evaluation ----------------------------------------------------------
    def extract(self, backbone: nn.Module, data_preprocessor: nn.Module) -> dict:
        """``{'train': N x C, 'val': M x C}`` float32 numpy features of both
        folders, gathered from every rank (call :meth:`_build` first)."""
        return {
            split: extract_features(backbone, loader, data_preprocessor,
                                    gather_total=total).cpu().numpy()
            for split, (loader, _, total) in self._splits.items()
        }

    def evaluate(self, runner, epoch: int, iteration: int) -> float:
        """Extract, gather, classify and log after ``epoch`` epochs /
        ``iteration`` iterations of training; returns the top-1 (%)."""
        start = time.perf_counter()
        feats = self.extract(*self._get_backbone(runner))
        top1 = knn_accuracy(feats['train'], self._splits['train'][1],
                            feats['val'], self._splits['val'][1], k=self.k,
                            temperature=self.temperature)
        seconds = time.perf_counter() - start
        share = seconds / self._train_seconds if self._train_seconds else 0.0
        self._totals[0] += seconds
        self._totals[1] += self._train_seconds
        self._train_seconds = 0.0
        self._log(runner, top1, seconds, share, epoch, iteration)
        return top1

    def _log(self, runner, top1: float, seconds: float, share: float,
             epoch: int, iteration: int) -> None:
        p = self.prefix
        scalars = {f'{p}/top1': top1, f'{p}/seconds': seconds,
                   f'{p}/time_share': share}
        for key, value in scalars.items():
            runner.message_hub.update_scalar(key, value)
        step = epoch if self.by_epoch else iteration
        # LoggerHook writes only the train/ and val/ scalars of the message
        # hub, and nothing after a train epoch: write to the backends here,
        # into the LoggerHook's <timestamp>.json as well as scalars.json.
        json_path = next((h.json_log_path for h in runner.hooks
                          if isinstance(h, LoggerHook)
                          and getattr(h, 'json_log_path', None)), None)
        runner.visualizer.add_scalars(
            dict(scalars, epoch=epoch, iter=iteration), step=step,
            file_path=json_path)
        sizes = {s: v[2] for s, v in self._splits.items()}
        print_log(
            f'KNNMonitor: {"epoch" if self.by_epoch else "iter"} {step}: kNN '
            f'top-1 {top1:.2f} % (k={self.k}, T={self.temperature}, '
            f'{sizes["train"]} train / {sizes["val"]} val images at '
            f'{self.image_size} px) in {seconds:.1f} s = {100 * share:.1f} % '
            f'of the training time since the last evaluation',
            logger=runner.logger)

    # -- hook points ---------------------------------------------------------
    def before_train(self, runner) -> None:
        self._build()
        self._train_seconds, self._totals = 0.0, [0.0, 0.0]
        if self.evaluate_at_start and runner.iter == 0:
            self.evaluate(runner, 0, 0)
        self._tick = time.perf_counter()

    def before_train_epoch(self, runner) -> None:
        if self.by_epoch:
            self._tick = time.perf_counter()

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        if self.by_epoch:
            return
        if self.every_n_train_iters(runner, self.interval) or \
                runner.iter + 1 == runner.max_iters:
            self._train_seconds += time.perf_counter() - self._tick
            self.evaluate(runner, runner.epoch, runner.iter + 1)
            self._tick = time.perf_counter()

    def after_train_epoch(self, runner) -> None:
        if not self.by_epoch:
            return
        self._train_seconds += time.perf_counter() - self._tick
        if self.every_n_epochs(runner, self.interval) or \
                runner.epoch + 1 == runner.max_epochs:
            self.evaluate(runner, runner.epoch + 1, runner.iter)

    def after_train(self, runner) -> None:
        knn, train = self._totals
        if train:
            print_log(f'KNNMonitor: {knn:.1f} s of monitoring for {train:.1f} s '
                      f'of training ({100 * knn / train:.1f} %).',
                      logger=runner.logger)

    def __repr__(self) -> str:
        args = dict(train_root=self.train_root, val_root=self.val_root,
                    interval=self.interval, by_epoch=self.by_epoch,
                    image_size=self.image_size, batch_size=self.batch_size,
                    num_workers=self.num_workers, k=self.k,
                    temperature=self.temperature,
                    max_train_images=self.max_images['train'],
                    max_val_images=self.max_images['val'],
                    backbone=self.backbone,
                    evaluate_at_start=self.evaluate_at_start,
                    prefix=self.prefix)
        return (f'{self.__class__.__name__}(' +
                ', '.join(f'{k}={v!r}' for k, v in args.items()) + ')')
