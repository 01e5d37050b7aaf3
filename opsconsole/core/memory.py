"""Memory freed after a burst, given back to the system.

glibc's malloc keeps the memory a burst of work freed (a burst of log lines read, split and
decoded: megabytes of buffers that live for a moment) in the process's heap, where it counts
in its RSS for as long as the console runs. :func:`trim_after_burst` asks it to return those
pages (``malloc_trim``) once a burst has been taken in, at most every :data:`MIN_GAP`
seconds. Elsewhere than glibc it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import time
from typing import Any

#: a batch of at least this many lines is a burst
BURST_LINES = 1000
#: at most one trim this often (seconds)
MIN_GAP = 2.0

_libc: Any = None
_looked = False
_last = 0.0


def _malloc_trim() -> Any:
    global _libc, _looked
    if not _looked:
        _looked = True
        name = ctypes.util.find_library("c")
        try:
            libc = ctypes.CDLL(name) if name else None
            _libc = getattr(libc, "malloc_trim", None)
        except OSError:
            _libc = None
    return _libc


def trim_after_burst(lines: int) -> bool:
    """After ``lines`` lines were taken in at once: give freed heap memory back when that
    was a burst and the last trim is old enough. True when it trimmed."""
    global _last
    if lines < BURST_LINES:
        return False
    now = time.monotonic()
    if now - _last < MIN_GAP:
        return False
    trim = _malloc_trim()
    if trim is None:
        return False
    _last = now
    trim(0)
    return True
