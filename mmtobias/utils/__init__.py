# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
from .compat import apply_all as apply_compat_fixes

__all__ = ['apply_compat_fixes']
