# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.

__all__ = ['SafeLoadImageFromFile']
