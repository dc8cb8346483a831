# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
import numpy as np
import pytest
import torch

from mmtobias.scda.pipeline import SCDANet, iter_maps


class _RecordingNet:
    """Stands in for SCDANet: records when batches are launched and fetched."""

    def __init__(self, device):
        self.device, self.events = torch.device(device), []

    def launch(self, imgs):
        self.events.append(('launch', int(imgs[0])))
        return imgs

    def fetch(self, launched):
        self.events.append(('fetch', int(launched[0])))
        return launched.numpy() * 10


def _batches(n):
    return [(torch.tensor([k]), torch.tensor([k]), torch.tensor([True]), [''])
            for k in range(n)]


@pytest.mark.parametrize('device, order', [
    ('cpu', ['launch 0', 'fetch 0', 'launch 1', 'fetch 1', 'launch 2', 'fetch 2']),
    # on CUDA batch k+1 is queued before batch k is waited for
    ('cuda', ['launch 0', 'launch 1', 'fetch 0', 'launch 2', 'fetch 1', 'fetch 2'])])
def test_iter_maps_order(device, order):
    net = _RecordingNet(device)  # torch.device('cuda') needs no GPU
    out = list(iter_maps(_batches(3), net))
    assert [int(idx[0]) for idx, *_ in out] == [0, 1, 2]
    assert [int(maps[0]) for _, maps, *_ in out] == [0, 10, 20]
    assert [f'{a} {k}' for a, k in net.events] == order


def test_iter_maps_uses_the_decoder():
    net = _RecordingNet('cpu')
    seen = []

    def decoder(batch):
        seen.append(batch)
        return batch['idx'], batch['idx'], batch['ok'], batch['reasons']

    batches = [dict(idx=torch.tensor([k]), ok=torch.tensor([True]), reasons=['x'])
               for k in range(2)]
    out = list(iter_maps(batches, net, decoder))
    assert len(seen) == 2 and [r for *_, r in out] == [['x'], ['x']]


def test_scda_net_maps_on_cpu():
    net = SCDANet('resnet18', 'kaiming', 0, 64, 1, False, None, torch.device('cpu'),
                  'fp32', True)
    imgs = torch.randint(0, 256, (2, 3, 64, 64), dtype=torch.uint8)
    maps = net(imgs)
    assert maps.shape == (2, net.grid, net.grid) and maps.dtype == np.float32
    np.testing.assert_array_equal(net.fetch(net.launch(imgs)), maps)
