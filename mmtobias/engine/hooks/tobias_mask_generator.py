# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
import os.path as osp
from typing import Optional

from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS

from mmtobias.scda.ensure import ensure_masks
from mmtobias.scda.image_list import dataset_image_paths
from mmtobias.scda.pipeline_mask_file import fill_mask_file
from mmtobias.scda.runtime import DECODES, PRECISIONS
from mmtobias.scda.settings import ScdaNetSettings

# How errors name the mask file, by where it was set.
_HOOK_OPTION = 'the mask_file of the TobiasMaskGenerator hook'
_CFG_OPTION = "the config's top-level mask_file"


@HOOKS.register_module()
class TobiasMaskGenerator(Hook):
    """Make sure the Tobias mask file exists for the train dataset, and point
    the training pipeline at it.

    Before training, :func:`~mmtobias.scda.ensure_masks` checks the mask file
    against the train dataset (each image's path relative to the data root,
    size and mtime) and, when it does not match, computes the masks of the
    new or changed images (every rank takes a share; finished shards are
    checkpointed, so an interrupted run resumes; ``mask_file + '.lock'``
    keeps a second job writing the same file waiting). Then every transform
    of the training pipeline with a ``mask_file`` attribute left None
    (``BackgroundSwap``, ``CopyPaste``, also inside dataset wrappers,
    ``MultiView`` and ``RandomApply``) gets the file, so a config sets it
    once: its top-level ``mask_file``, e.g.
    ``--cfg-options mask_file=/path/train.tmask``. Every rank reads the
    file, so in multi-node training it must be on a file system all nodes
    share (checked after generation).

    The hook builds its own random network, so it is independent of the
    model being trained. Priority ``VERY_HIGH``: it must run before any
    ``before_train`` hook that iterates the training data.

    Args:
        mask_file (str, optional): The mask file. Defaults to None (the
            config's top-level ``mask_file``).
        data_root (str, optional): Root the mask keys are relative to.
            Defaults to None (the dataset's image folder,
            ``data_prefix['img_path']``).
        arch (str): Random backbone. Defaults to 'resnet50'.
        init (str): Init scheme. Defaults to 'kaiming'.
        seed (int): Seed of the random network. Defaults to 0.
        input_size (int): Images are resized to this square. Defaults to 224.
        layer4_stride (int): Defaults to 2.
        extra_pool (bool): Faithful extra max-pool (7x7 -> 4x4).
            Defaults to True.
        grid (int, optional): Adaptive pooling to this grid. Defaults to None.
        batch_size (int): Images per forward pass. Defaults to 32.
        num_workers (int, optional): Decoding processes. None chooses from
            the cores available to each process (see
            :func:`~mmtobias.scda.default_workers_threads`). Defaults to None.
        num_threads (int, optional): Torch threads while computing on CPU
            (restored afterwards). None: ``cores - num_workers``, capped by
            the current ``torch.get_num_threads()``. Defaults to None.
        precision (str): 'auto', 'bf16' or 'fp32'. Defaults to 'auto'.
        decode (str): How images are decoded: 'pil' (the released
            approach), 'draft' (JPEGs decoded at a reduced DCT scale that
            keeps the input size), 'nvjpeg' (on the GPU; CUDA only, opt-in)
            or 'auto' ('draft'; when updating an existing mask file, the
            path it was made with). Defaults to 'auto'.
        shard_size (int): Images per checkpointed shard. Defaults to 1024.
        keep_shards (bool): Keep the shard files after merging.
            Defaults to False.
        lock_timeout (float, optional): Seconds to wait for another process
            writing the same mask file (None: no limit). Defaults to 3600.
    """

    priority = 'VERY_HIGH'

    def __init__(self,
                 mask_file: Optional[str] = None,
                 data_root: Optional[str] = None,
                 arch: str = 'resnet50',
                 init: str = 'kaiming',
                 seed: int = 0,
                 input_size: int = 224,
                 layer4_stride: int = 2,
                 extra_pool: bool = True,
                 grid: Optional[int] = None,
                 batch_size: int = 32,
                 num_workers: Optional[int] = None,
                 num_threads: Optional[int] = None,
                 precision: str = 'auto',
                 decode: str = 'auto',
                 shard_size: int = 1024,
                 keep_shards: bool = False,
                 lock_timeout: Optional[float] = 3600.0) -> None:
        if mask_file is not None and (not isinstance(mask_file, str)
                                      or not mask_file):
            raise TypeError(f'TobiasMaskGenerator: mask_file must be a path '
                            f'string or None (the config\'s top-level '
                            f'mask_file), got {mask_file!r}.')
        try:
            self.net = ScdaNetSettings(arch, init, seed, input_size,
                                       layer4_stride, extra_pool, grid)
        except (TypeError, ValueError) as e:
            raise type(e)(f'TobiasMaskGenerator: {e}') from None
        if precision not in PRECISIONS:
            raise ValueError(f'TobiasMaskGenerator: precision={precision!r} '
                             f'is not supported; choose one of {PRECISIONS}.')
        if decode not in DECODES:
            raise ValueError(f'TobiasMaskGenerator: decode={decode!r} is not '
                             f'supported; choose one of {DECODES}.')
        self.mask_file = mask_file
        self.data_root = data_root
        self.lock_timeout = lock_timeout
        # the further arguments of generate_masks
        self.options = dict(batch_size=batch_size, num_workers=num_workers,
                            num_threads=num_threads, precision=precision,
                            decode=decode, shard_size=shard_size,
                            keep_shards=keep_shards)

    def before_train(self, runner) -> None:
        mask_file, option = self._mask_file(runner)
        dataset = runner.train_dataloader.dataset
        paths, root = dataset_image_paths(dataset)
        root = osp.abspath(self.data_root) if self.data_root else root
        status = ensure_masks(paths, root, mask_file, self.net,
                              lock_timeout=self.lock_timeout,
                              out_option=option, logger=runner.logger,
                              **self.options)
        filled = fill_mask_file(dataset, mask_file, logger=runner.logger)
        if status.changed or filled:
            _restart_early_workers(runner)

    def _mask_file(self, runner):
        """The mask file and how errors name it: the hook's own, else the
        config's top-level ``mask_file``."""
        if self.mask_file is not None:
            return self.mask_file, _HOOK_OPTION
        cfg = getattr(runner, 'cfg', None) or {}
        mask_file = cfg.get('mask_file')
        if not mask_file or not isinstance(mask_file, str):
            raise ValueError(
                f'TobiasMaskGenerator: no mask file: the hook has no '
                f'mask_file and the config\'s top-level mask_file is '
                f'{mask_file!r}. Set the top-level mask_file of the config '
                f'(e.g. --cfg-options mask_file=work_dirs/masks/train.tmask) '
                f'or the mask_file of the TobiasMaskGenerator hook.')
        return mask_file, _CFG_OPTION

    def __repr__(self) -> str:
        args = dict(mask_file=self.mask_file, data_root=self.data_root,
                    **self.net.to_dict(), **self.options,
                    lock_timeout=self.lock_timeout)
        return (f'{self.__class__.__name__}(' +
                ', '.join(f'{k}={v!r}' for k, v in args.items()) + ')')


def _restart_early_workers(runner) -> None:
    """Restart the DataLoader workers that ``IterBasedTrainLoop`` started
    before this hook ran.

    ``Runner.train()`` builds the train loop before calling any hook
    (``before_run`` included), and ``IterBasedTrainLoop`` makes its data
    iterator there: with ``num_workers > 0`` the workers start at once, each
    with a copy of the dataset made then (fork or spawn), i.e. without the
    ``mask_file`` just set on the transforms, and perhaps before the file
    existed. ``EpochBasedTrainLoop`` makes its iterator after
    ``before_train``, and without workers the loader reads this process's
    dataset: nothing to do there. Otherwise the loop gets a fresh iterator;
    for ``persistent_workers`` the DataLoader's kept iterator is dropped
    first (as mmdet's ``PipelineSwitchHook`` does: ``DataLoader`` has no
    public way to restart its workers). The old workers exit when their
    iterator is released.
    """
    loop = getattr(runner, 'train_loop', None)
    iterator = getattr(loop, 'dataloader_iterator', None)
    loader = getattr(loop, 'dataloader', None)
    if iterator is None or not getattr(loader, 'num_workers', 0):
        return
    loader._iterator = None  # persistent workers: else iter() reuses them
    loop.dataloader_iterator = type(iterator)(loader)
