# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""The settings of the random SCDA network, named once.

The same seven values decide the maps wherever they are given (the
``TobiasMaskGenerator`` hook, ``tools/generate_masks.py``,
:func:`~mmtobias.scda.generate_masks`), are recorded in the mask file's
``meta`` and are compared with it; :class:`ScdaNetSettings` holds them, checks
them up front and knows their ``meta`` names.
"""
from dataclasses import asdict, dataclass, fields
from typing import Optional

from .core import INIT_SCHEMES, SCDA_ARCHS

__all__ = ['ScdaNetSettings']


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class ScdaNetSettings:
    """What decides the SCDA maps of an image (SPEC section 1).

    Args:
        arch (str): Random torchvision ResNet-family backbone, one of
            :data:`~mmtobias.scda.SCDA_ARCHS`. Defaults to 'resnet50'.
        init (str): Init scheme, one of :data:`~mmtobias.scda.INIT_SCHEMES`.
            Defaults to 'kaiming'.
        seed (int, optional): Seed of the random weights (None: the global
            RNG, not reproducible). Defaults to 0.
        input_size (int): Images are resized to this square (>= 32).
            Defaults to 224.
        layer4_stride (int): 1 or 2. Defaults to 2.
        extra_pool (bool): The faithful extra max-pool (7x7 -> 4x4 at 224).
            Defaults to True.
        grid (int, optional): Adaptive max-pool to this grid (extension).
            Defaults to None.
    """

    arch: str = 'resnet50'
    init: str = 'kaiming'
    seed: Optional[int] = 0
    input_size: int = 224
    layer4_stride: int = 2
    extra_pool: bool = True
    grid: Optional[int] = None

    def __post_init__(self) -> None:
        if self.arch not in SCDA_ARCHS:
            raise ValueError(f'arch={self.arch!r} is not supported; choose '
                             f'one of {SCDA_ARCHS}.')
        if self.init not in INIT_SCHEMES:
            raise ValueError(f'init={self.init!r} is not supported; choose '
                             f'one of {INIT_SCHEMES}.')
        if self.seed is not None and not _is_int(self.seed):
            raise TypeError(f'seed must be an int or None, got '
                            f'{self.seed!r}.')
        if not _is_int(self.input_size) or self.input_size < 32:
            raise ValueError(f'input_size must be an int >= 32, got '
                             f'{self.input_size!r}.')
        if self.layer4_stride not in (1, 2):
            raise ValueError(f'layer4_stride must be 1 or 2, got '
                             f'{self.layer4_stride!r}.')
        if not isinstance(self.extra_pool, bool):
            raise TypeError(f'extra_pool must be a bool, got '
                            f'{self.extra_pool!r}.')
        if self.grid is not None and (not _is_int(self.grid) or self.grid < 1):
            raise ValueError(f'grid must be a positive int or None, got '
                             f'{self.grid!r}.')

    @classmethod
    def names(cls) -> tuple:
        """The argument names, in order."""
        return tuple(f.name for f in fields(cls))

    def to_dict(self) -> dict:
        """The settings as keyword arguments (e.g. of
        :func:`~mmtobias.scda.generate_masks`)."""
        return asdict(self)

    def meta(self) -> dict:
        """The mask-file ``meta`` entries these settings are recorded as."""
        return dict(backbone=self.arch, init=self.init, seed=self.seed,
                    input_size=self.input_size,
                    layer4_stride=self.layer4_stride,
                    extra_pool=self.extra_pool, grid_pool=self.grid)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(' + ', '.join(
            f'{k}={v!r}' for k, v in self.to_dict().items()) + ')')
