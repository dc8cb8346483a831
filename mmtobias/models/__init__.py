# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
from . import backbones, heads, localizers, necks, selfsup  # noqa: F401

__all__ = []
