# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""ScdaNetSettings: the network's settings, named once."""
import dataclasses

import pytest

from mmtobias.scda import ScdaNetSettings, map_settings


def test_defaults_are_the_faithful_network_and_its_meta_names():
    net = ScdaNetSettings()
    assert net.to_dict() == dict(arch='resnet50', init='kaiming', seed=0,
                                 input_size=224, layer4_stride=2,
                                 extra_pool=True, grid=None)
    assert ScdaNetSettings.names() == tuple(net.to_dict())
    # the meta entries mask files have always recorded (fingerprints, reuse)
    assert net.meta() == dict(backbone='resnet50', init='kaiming', seed=0,
                              input_size=224, layer4_stride=2,
                              extra_pool=True, grid_pool=None)
    assert map_settings(arch='resnet18', seed=3) == ScdaNetSettings(
        arch='resnet18', seed=3).meta()
    assert repr(net).startswith("ScdaNetSettings(arch='resnet50', ")
    with pytest.raises(dataclasses.FrozenInstanceError):
        net.seed = 1


@pytest.mark.parametrize('changes, error, match', [
    (dict(arch='vit'), ValueError, r"arch='vit' is not supported.*resnet50"),
    (dict(init='he'), ValueError, r"init='he' is not supported.*kaiming"),
    (dict(seed=1.5), TypeError, r'seed must be an int or None, got 1\.5'),
    (dict(input_size=16), ValueError, r'input_size must be an int >= 32'),
    (dict(layer4_stride=3), ValueError, r'layer4_stride must be 1 or 2'),
    (dict(extra_pool='yes'), TypeError, r'extra_pool must be a bool'),
    (dict(grid=0), ValueError, r'grid must be a positive int or None'),
])
def test_settings_are_checked_up_front(changes, error, match):
    with pytest.raises(error, match=match):
        ScdaNetSettings(**changes)
