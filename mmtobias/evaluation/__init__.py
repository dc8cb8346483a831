# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
from . import metrics  # noqa: F401  (registers into mmpretrain's METRICS)

__all__ = []
