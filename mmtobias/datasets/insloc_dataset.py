# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""An image folder whose samples also carry background images of the folder."""
from typing import List

import numpy as np
from mmpretrain.datasets import CustomDataset
from mmpretrain.registry import DATASETS

__all__ = ['InsLocDataset']


@DATASETS.register_module()
class InsLocDataset(CustomDataset):
    """mmpretrain ``CustomDataset`` that adds background paths to each sample.

    Every argument of ``CustomDataset`` works unchanged (any folder, flat or
    ``class/file`` layout, ``with_label=False`` for pretraining), so
    ``--cfg-options train_dataloader.dataset.data_root=DIR`` trains on any
    image folder. Each sample additionally gets ``bg_img_paths``: the paths of
    ``num_backgrounds`` other images drawn uniformly over the dataset,
    different from the sample and from each other when the dataset has
    enough images (InsLoc's query and key backgrounds). The draw happens in
    the worker that prepares the sample, with the global NumPy RNG that
    MMEngine seeds per worker, so it works with any ``num_workers``,
    persistent workers and DDP, and nothing but paths is held.

    Unreadable files: each sample also gets ``bg_spare_paths``, up to
    ``num_spare_backgrounds`` further images (distinct from the others when
    the dataset is large enough), which ``InsLocComposite`` uses in order in
    place of a background that does not decode. An unreadable foreground is
    the load step's business: with ``SafeLoadImageFromFile(on_error='skip')``
    the pipeline returns None and MMEngine's ``BaseDataset`` draws another
    index (this class keeps its ``__getitem__``).

    Args:
        num_backgrounds (int): Background paths per sample. Defaults to 2.
        num_spare_backgrounds (int): Spare background paths per sample.
            Defaults to 2.
        **kwargs: Arguments of mmpretrain's ``CustomDataset``.
    """

    def __init__(self,
                 *args,
                 num_backgrounds: int = 2,
                 num_spare_backgrounds: int = 2,
                 **kwargs) -> None:
        if not isinstance(num_backgrounds, int) or num_backgrounds < 1:
            raise ValueError('`num_backgrounds` must be an int >= 1, got '
                             f'{num_backgrounds!r}.')
        if not isinstance(num_spare_backgrounds,
                          int) or num_spare_backgrounds < 0:
            raise ValueError('`num_spare_backgrounds` must be an int >= 0, '
                             f'got {num_spare_backgrounds!r}.')
        self.num_backgrounds = num_backgrounds
        self.num_spare_backgrounds = num_spare_backgrounds
        super().__init__(*args, **kwargs)

    def _background_indices(self, idx: int) -> List[int]:
        """``num_backgrounds`` indices, then up to ``num_spare_backgrounds``."""
        n = len(self)
        k = self.num_backgrounds
        if n - 1 >= k:  # distinct, and never the foreground itself
            # The first k of a draw without replacement do not depend on its
            # size (NumPy takes a prefix of one permutation), so the spares
            # leave the backgrounds as they were.
            size = min(n - 1, k + self.num_spare_backgrounds)
            picks = np.random.choice(n - 1, size=size, replace=False)
            return [int(j) + (j >= idx) for j in picks]
        # too few images for distinct backgrounds: draw with replacement
        return [int(j) for j in np.random.randint(0, n, size=k)]

    def prepare_data(self, idx: int):
        data_info = self.get_data_info(idx)
        paths = [
            self.get_data_info(j)['img_path']
            for j in self._background_indices(idx)
        ]
        data_info['bg_img_paths'] = paths[:self.num_backgrounds]
        data_info['bg_spare_paths'] = paths[self.num_backgrounds:]
        return self.pipeline(data_info)

    def extra_repr(self) -> List[str]:
        return super().extra_repr() + [
            f'Backgrounds per sample: {self.num_backgrounds}',
            f'Spare backgrounds per sample: {self.num_spare_backgrounds}'
        ]
