# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
import pytest
import torch
from mmengine.registry import OPTIM_WRAPPERS

import mmtobias  # noqa: F401


def _wrapper(**kwargs):
    model = torch.nn.Linear(4, 2)
    optim = OPTIM_WRAPPERS.build(
        dict(type='AutocastOptimWrapper',
             optimizer=torch.optim.SGD(model.parameters(), lr=0.1), **kwargs))
    return model, optim


def test_forward_runs_in_bfloat16_and_params_stay_float32():
    model, optim = _wrapper()
    with optim.optim_context(model):
        out = model(torch.randn(3, 4))
    assert out.dtype == torch.bfloat16
    loss = out.float().pow(2).mean()
    before = model.weight.detach().clone()
    optim.update_params(loss)
    assert model.weight.dtype == torch.float32
    assert not torch.equal(before, model.weight)


def test_built_from_the_mmpretrain_scope():
    from mmpretrain.registry import OPTIM_WRAPPERS as PRETRAIN_OPTIM_WRAPPERS
    assert PRETRAIN_OPTIM_WRAPPERS.get('AutocastOptimWrapper') is not None


def test_bad_dtype_names_the_field():
    with pytest.raises(ValueError, match=r"'int8'.*optim_wrapper.dtype"):
        _wrapper(dtype='int8')
