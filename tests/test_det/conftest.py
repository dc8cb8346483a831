# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
import pytest
from mmengine.registry import DefaultScope


@pytest.fixture(autouse=True)
def mmdet_default_scope():
    """Build through mmdet's registries, whatever scope an earlier test's Runner left."""
    with DefaultScope.overwrite_default_scope('mmdet'):
        yield
