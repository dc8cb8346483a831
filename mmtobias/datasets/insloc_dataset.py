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

    Args:
        num_backgrounds (int): Background paths per sample. Defaults to 2.
        **kwargs: Arguments of mmpretrain's ``CustomDataset``.
    """

    def __init__(self, *args, num_backgrounds: int = 2, **kwargs) -> None:
        if not isinstance(num_backgrounds, int) or num_backgrounds < 1:
            raise ValueError('`num_backgrounds` must be an int >= 1, got '
                             f'{num_backgrounds!r}.')
        self.num_backgrounds = num_backgrounds
        super().__init__(*args, **kwargs)

    def _background_indices(self, idx: int) -> List[int]:
        n = len(self)
        k = self.num_backgrounds
        if n - 1 >= k:  # distinct, and never the foreground itself
            picks = np.random.choice(n - 1, size=k, replace=False)
            return [int(j) + (j >= idx) for j in picks]
        # too few images for distinct backgrounds: draw with replacement
        return [int(j) for j in np.random.randint(0, n, size=k)]

    def prepare_data(self, idx: int):
        data_info = self.get_data_info(idx)
        data_info['bg_img_paths'] = [
            self.get_data_info(j)['img_path']
            for j in self._background_indices(idx)
        ]
        return self.pipeline(data_info)

    def extra_repr(self) -> List[str]:
        return super().extra_repr() + [
            f'Backgrounds per sample: {self.num_backgrounds}'
        ]
