# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""Detection-transfer components, registered into mmdet's registries."""

__all__ = []
