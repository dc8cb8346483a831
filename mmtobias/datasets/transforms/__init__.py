# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
from .safe_load_image import SafeLoadImageFromFile

__all__ = ['SafeLoadImageFromFile']
