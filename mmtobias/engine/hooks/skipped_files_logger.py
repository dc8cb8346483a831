# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""How many unreadable image files the training pipeline skipped."""
import logging
from typing import Iterable, Iterator, Optional, Sequence

import torch
from mmengine.dist import all_gather_object, all_reduce
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmpretrain.datasets.transforms import PackInputs
from mmpretrain.registry import HOOKS

from mmtobias.datasets.transforms.safe_load_image import SafeLoadImageFromFile
from mmtobias.datasets.transforms.unreadable_files import (UNREADABLE,
                                                           record_unreadable)

__all__ = ['SkippedFilesLogger', 'skipped_paths']

KEY = 'skipped_files'


def skipped_paths(data_samples: Optional[Sequence]) -> Iterator[str]:
    """The skipped paths carried by a batch's data samples (see
    :class:`~mmtobias.datasets.transforms.SafeLoadImageFromFile`)."""
    for sample in data_samples or ():
        yield from (sample.get(KEY, None) or ())


def _transforms(dataset) -> Iterable:
    """The top-level transforms of a (possibly wrapped) dataset's pipeline."""
    while not hasattr(dataset, 'pipeline') and hasattr(dataset, 'dataset'):
        dataset = dataset.dataset  # RepeatDataset, ClassBalancedDataset, ...
    return getattr(getattr(dataset, 'pipeline', None), 'transforms', ())


@HOOKS.register_module()
class SkippedFilesLogger(Hook):
    """Log, per epoch, how many unreadable image files training skipped.

    ``SafeLoadImageFromFile(on_error='skip', ...)`` returns None for a file
    that does not decode, and MMEngine's dataset draws another sample. The
    load step runs in DataLoader worker processes (and on every DDP rank), so
    it cannot count for the log itself: it hands the paths it skipped to the
    next sample it loads (``skipped_files``), ``PackInputs(algorithm_keys=
    ['skipped_files'])`` carries them in the data samples, and this hook adds
    them up as the batches reach the main process. At each epoch end the
    count (skips, a file drawn twice counts twice) is summed over the ranks
    (one int64 ``all_reduce``; every rank takes part), logged with the names
    of the files skipped for the first time (gathered from every rank, at
    most ``max_names``), and written as ``skipped_files`` to the visualizer
    (``scalars.json``, with the epoch). An ``IterBasedTrainLoop`` ends its
    only epoch with training, so there the count covers the whole run. The
    load step itself warns once per file and process, with the reason.

    The skipped paths are also recorded in this process, so DataLoader
    workers forked later (each epoch without ``persistent_workers``) skip
    them without decoding or warning again.

    Before training, the hook checks that the train pipeline can be
    counted: a ``PackInputs`` without ``'skipped_files'`` after a skipping
    ``SafeLoadImageFromFile`` is a ``ValueError``; a pipeline without a
    skipping load step gets a warning (nothing to count).

    The hook only reads the batches; its priority does not matter.

    Args:
        max_names (int): Most file names listed per epoch. Defaults to 50.
    """

    def __init__(self, max_names: int = 50) -> None:
        if not isinstance(max_names, int) or max_names < 0:
            raise ValueError(f'SkippedFilesLogger: max_names must be an int '
                             f'>= 0, got {max_names!r}.')
        self.max_names = max_names
        self._count = 0  # skips since the epoch began, on this rank
        self._new = {}  # files first skipped this epoch (ordered set)
        self._named = set()  # files named in an earlier epoch, any rank

    def before_train(self, runner) -> None:
        self._count, self._new = 0, {}
        self._check_pipeline(runner.train_loop.dataloader.dataset)

    @staticmethod
    def _check_pipeline(dataset) -> None:
        transforms = list(_transforms(dataset))
        skipping = [
            t for t in transforms if isinstance(t, SafeLoadImageFromFile)
            and 'skip' in (t.on_error, t.truncated)
        ]
        if not skipping:
            print_log(
                'SkippedFilesLogger: the train pipeline has no '
                "SafeLoadImageFromFile with on_error='skip' or "
                "truncated='skip'; there is nothing to count.",
                logger='current', level=logging.WARNING)
            return
        for pack in (t for t in transforms if isinstance(t, PackInputs)):
            keys = tuple(pack.algorithm_keys) + tuple(pack.meta_keys)
            if KEY not in keys:
                raise ValueError(
                    f'SkippedFilesLogger: {type(pack).__name__} in '
                    f'train_dataloader.dataset.pipeline does not carry '
                    f"'{KEY}', so skipped files cannot be counted; add it: "
                    f"dict(type='PackInputs', algorithm_keys=[..., '{KEY}']).")

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        samples = data_batch.get('data_samples') \
            if isinstance(data_batch, dict) else None
        for path in skipped_paths(samples):
            self._count += 1
            if path not in self._named:
                self._new[path] = None
            # later forked workers inherit it: skipped without a warning
            record_unreadable(path, UNREADABLE,
                              'skipped by the training pipeline')

    def after_train_epoch(self, runner) -> None:
        total = torch.tensor([self._count], dtype=torch.int64)
        all_reduce(total, op='sum')  # no-op without torch.distributed
        total = int(total.item())
        # The names, so that rank 0's log lists the files every rank skipped
        # (MMLogger shows only errors of the other ranks).
        new = sorted({p for names in all_gather_object(list(self._new))
                      for p in names})
        self._named.update(new)
        self._count, self._new = 0, {}
        epoch = runner.epoch + 1  # as LoggerHook counts: the first is 1
        msg = f'Epoch {epoch}: skipped {total} unreadable image file(s)'
        if new:
            shown = new[:self.max_names]
            if len(new) > len(shown):
                shown.append(f'{len(new) - len(shown)} more')
            msg += '; first skipped now: ' + ', '.join(shown)
        elif total:
            msg += ', all named in earlier epochs'
        print_log(msg + '.', logger=runner.logger,
                  level=logging.WARNING if total else logging.INFO)
        runner.visualizer.add_scalars(
            {KEY: total, 'epoch': epoch}, step=runner.iter)
