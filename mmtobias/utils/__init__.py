# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
from .compat import apply_all as apply_compat_fixes
from .process_group import close_process_group

__all__ = ['apply_compat_fixes', 'close_process_group']
