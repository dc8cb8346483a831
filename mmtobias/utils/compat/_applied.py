# Copyright (c) mmtobias contributors. Licensed under the Apache License 2.0.
"""``apply_once``: a compatibility fix patches at most once per process."""
import functools

_APPLIED = set()  # names of the fixes applied in this process


def apply_once(fn):
    """Run ``fn`` at most once per process; the wrapper returns True when it ran."""

    @functools.wraps(fn)
    def wrapper():
        if fn.__name__ in _APPLIED:
            return False
        fn()
        _APPLIED.add(fn.__name__)
        return True

    return wrapper
