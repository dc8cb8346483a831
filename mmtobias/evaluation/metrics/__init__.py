# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
from .scda_localization import SCDALocalization

__all__ = ['SCDALocalization']
