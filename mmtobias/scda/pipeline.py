# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""From decoded batches to SCDA maps: the random network on a device and the
loop that feeds it.

On CUDA the loop keeps one batch in flight: batch k+1 is launched before
the maps of batch k are waited for, and each batch's maps are copied back
asynchronously (pinned memory, an event per batch), so the main process
prepares (and, with ``decode='nvjpeg'``, decodes on nvJPEG's own stream)
the next batch while the network computes. On the CPU each batch is
finished before the next, as before.
"""
from contextlib import nullcontext
from typing import Callable, Iterator, Optional

import numpy as np
import torch

from .core import IMAGENET_MEAN, IMAGENET_STD, build_scda_backbone, scda_map
from .settings import ScdaNetSettings

__all__ = ['SCDANet', 'iter_maps']


class SCDANet:
    """The random backbone on ``device``: uint8 images -> raw SCDA maps.

    Built from a :class:`~mmtobias.scda.ScdaNetSettings` with
    :meth:`from_settings`; the positional form stays for the benchmark
    tools.
    """

    def __init__(self, arch, init, seed, input_size, layer4_stride,
                 extra_pool, grid, device, precision, channels_last):
        self.device, self.input_size = device, input_size
        self.memory_format = (torch.channels_last if channels_last else
                              torch.contiguous_format)
        self.model = build_scda_backbone(
            arch, init, seed, layer4_stride, extra_pool,
            grid).to(device).to(memory_format=self.memory_format)
        self.mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1)
        self.autocast = ((lambda: torch.autocast(device.type,
                                                 dtype=torch.bfloat16))
                         if precision == 'bf16' else nullcontext)
        with torch.inference_mode():
            out_hw = self.model(torch.zeros(1, 3, input_size, input_size,
                                            device=device)).shape[-2:]
        if out_hw[0] != out_hw[1]:
            raise ValueError(f'The network gives a {tuple(out_hw)} map at '
                             f'input_size={input_size}; masks need a square '
                             f'grid.')
        self.grid = int(out_hw[0])

    @classmethod
    def from_settings(cls, settings: ScdaNetSettings, device,
                      precision: str = 'fp32',
                      channels_last: bool = True) -> 'SCDANet':
        """The network of ``settings`` on ``device``."""
        s = settings
        return cls(s.arch, s.init, s.seed, s.input_size, s.layer4_stride,
                   s.extra_pool, s.grid, torch.device(device), precision,
                   channels_last)

    def launch(self, imgs: torch.Tensor):
        """Queue the maps of ``imgs`` (N x 3 x S x S uint8, any device);
        :meth:`fetch` returns them. On CUDA nothing is waited for: the maps
        are copied to pinned memory behind an event."""
        x = imgs.to(self.device, non_blocking=True).float().div_(255)
        x = x.sub_(self.mean).div_(self.std).contiguous(
            memory_format=self.memory_format)
        with torch.inference_mode(), self.autocast():
            maps = scda_map(self.model(x))  # N x g x g float32
        if torch.device(self.device).type != 'cuda':
            return maps
        host = torch.empty(maps.shape, dtype=maps.dtype, pin_memory=True)
        host.copy_(maps, non_blocking=True)
        done = torch.cuda.Event()
        done.record()
        return host, done

    @staticmethod
    def fetch(launched) -> np.ndarray:
        """The maps of a :meth:`launch` as a numpy array."""
        if isinstance(launched, tuple):
            host, done = launched
            done.synchronize()
            return host.numpy()
        return launched.cpu().numpy()

    def __call__(self, imgs: torch.Tensor) -> np.ndarray:
        return self.fetch(self.launch(imgs))


def iter_maps(loader, net: SCDANet,
              decoder: Optional[Callable] = None) -> Iterator[tuple]:
    """``(idx, maps, ok, reasons)`` for each batch of ``loader``, in order.

    Args:
        loader (Iterable): Batches ``(idx, imgs, ok, reasons)``, or batches
            that ``decoder`` turns into those (``decode='nvjpeg'``).
        net (SCDANet): The network.
        decoder (callable, optional): Completes a batch on the device.
            Defaults to None.
    """
    lag = torch.device(net.device).type == 'cuda'
    pending = None
    for batch in loader:
        idx, imgs, ok, reasons = decoder(batch) if decoder else batch
        launched = net.launch(imgs)
        if pending is not None:
            yield pending[0], net.fetch(pending[1]), pending[2], pending[3]
        pending = (idx, launched, ok, reasons)
        if not lag:
            yield idx, net.fetch(launched), ok, reasons
            pending = None
    if pending is not None:
        yield pending[0], net.fetch(pending[1]), pending[2], pending[3]
