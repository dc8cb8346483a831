# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""Helpers shared by the random-CNN ablation backbones (Tobias Tables 1-2):
activation swapping, seeded construction / initialisation and loading the
backbone of a pretrained checkpoint."""
from typing import Callable, Optional

import torch
import torch.nn as nn
from mmengine.logging import print_log
from mmengine.runner import CheckpointLoader

from mmtobias.scda.core import INIT_SCHEMES, init_weights

__all__ = [
    'ACTIVATIONS', 'INIT_CHOICES', 'Arctan', 'build_activation',
    'replace_relu', 'check_choice', 'seeded_build', 'load_backbone_checkpoint'
]

ACTIVATIONS = ('relu', 'sigmoid', 'arctan', 'tanh', 'elu', 'selu', 'softplus')
# 'torchvision': keep the constructor's own (PyTorch model zoo) init, seeded.
INIT_CHOICES = INIT_SCHEMES + ('torchvision', )


class Arctan(nn.Module):
    """Element-wise ``atan``: a bounded activation with no dead zone."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.atan(x)


def build_activation(name: str) -> nn.Module:
    """A new activation module by name (one of :data:`ACTIVATIONS`)."""
    factories = dict(
        relu=lambda: nn.ReLU(inplace=True),
        sigmoid=nn.Sigmoid,
        arctan=Arctan,
        tanh=nn.Tanh,
        elu=nn.ELU,
        selu=nn.SELU,
        softplus=nn.Softplus)
    if name not in factories:
        raise ValueError(f'activation={name!r} is not supported; choose one '
                         f'of {ACTIVATIONS} (config field '
                         f'model.backbone.activation).')
    return factories[name]()


def replace_relu(module: nn.Module, name: str) -> int:
    """Replace every ``nn.ReLU`` in ``module`` by ``build_activation(name)``.

    torchvision blocks reuse one ReLU module several times per block, so
    swapping the module swaps every use. Returns the number of modules
    replaced.
    """
    if name == 'relu':
        return 0
    count = 0
    for parent in module.modules():
        for child_name, child in parent.named_children():
            if isinstance(child, nn.ReLU):
                setattr(parent, child_name, build_activation(name))
                count += 1
    return count


def check_choice(arg: str, value, choices) -> None:
    if value not in choices:
        raise ValueError(f'{arg}={value!r} is not supported; choose one of '
                         f'{tuple(choices)} (config field model.backbone.'
                         f'{arg}).')


def seeded_build(factory: Callable[[], nn.Module], init: str,
                 seed: Optional[int]) -> nn.Module:
    """Construct ``factory()`` and initialise it reproducibly.

    Construction happens inside ``fork_rng`` seeded with ``seed`` so the
    'torchvision' scheme is reproducible too and the caller's global RNG
    state is never disturbed; other schemes are redrawn with
    :func:`mmtobias.scda.core.init_weights`.
    """
    check_choice('init', init, INIT_CHOICES)
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        net = factory()
    if init != 'torchvision':
        init_weights(net, init, seed)
    return net


def load_backbone_checkpoint(module: nn.Module, checkpoint: str,
                             prefix: str = 'backbone.') -> None:
    """Load ``prefix*`` weights of ``checkpoint`` into ``module``.

    Works for mmpretrain / mmselfsup checkpoints (``state_dict`` with
    ``backbone.*`` keys: the query encoder of MoCo), torchvision files (use
    ``prefix=''``) and anything whose keys follow torchvision's ResNet names.
    Keys of ``module`` missing from the checkpoint are an error (evaluating a
    half-random network silently would be misleading); extra checkpoint keys
    (necks, heads, truncated stages) are ignored and counted in the log.
    """
    ckpt = CheckpointLoader.load_checkpoint(checkpoint, map_location='cpu')
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else ckpt
    if not isinstance(state, dict):
        raise TypeError(f'checkpoint {checkpoint!r} holds a '
                        f'{type(state).__name__}, expected a state dict.')
    picked = {k[len(prefix):]: v for k, v in state.items()
              if k.startswith(prefix)}
    own = module.state_dict()
    missing = [k for k in own if k not in picked]
    if missing:
        found = sorted({k.split('.')[0] for k in state})[:8]
        raise ValueError(
            f'checkpoint {checkpoint!r} lacks {len(missing)} backbone '
            f'weights under prefix {prefix!r} (e.g. {missing[:3]}); its '
            f'top-level key groups are {found}. Set '
            f'model.backbone.checkpoint_prefix to the right prefix '
            f'(e.g. "backbone." for mmpretrain, "" for torchvision) or '
            f'match the architecture options to the checkpoint.')
    module.load_state_dict({k: picked[k] for k in own}, strict=True)
    print_log(f'Loaded {len(own)} backbone tensors from {checkpoint} '
              f'(prefix {prefix!r}, {len(picked) - len(own)} ignored).',
              logger='current')
