# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
from .insloc_box_head import InsLocBoxHead

__all__ = ['InsLocBoxHead']
