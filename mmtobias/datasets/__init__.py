# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
from . import transforms  # noqa: F401  (registers into mmpretrain's TRANSFORMS)

__all__ = []
