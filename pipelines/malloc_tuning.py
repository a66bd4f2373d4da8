"""Keep glibc from growing the heap with a pipeline's transient large buffers.

A wiki page's wikitext, its parse result and the pickles that carry them to and from the parser process are
blocks of tens to hundreds of KB, freed right after use. glibc serves blocks above ``M_MMAP_THRESHOLD`` with
their own mmap and gives them back on free, but by default it *raises* that threshold to the size of every
such block freed (up to 32 MB). After the first large page, every later one comes from the heap, between the
small objects that outlive it, and the process keeps the holes: with the local runner, peak memory on the
English sample repeated 4x grew 33% over the sample, and 23% with a fixed threshold (bench/wiki_mrc.py).

The adjustment also raises the trim threshold to twice the mmap threshold, so free memory at the top of the
heap stays mapped. Setting both explicitly (what ``MALLOC_MMAP_THRESHOLD_`` and ``MALLOC_TRIM_THRESHOLD_``
do) turns the adjustment off and restores glibc's starting values. The call is process-wide, cheap, and a
no-op where the C library is not glibc.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import logging

_log = logging.getLogger(__name__)

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc <malloc.h>
DEFAULT_MMAP_THRESHOLD = 128 * 1024  # glibc's own starting value of both

_applied: set = set()


def fix_mmap_threshold(threshold_bytes: int = DEFAULT_MMAP_THRESHOLD) -> bool:
    """From now on, serve new blocks of ``threshold_bytes`` or more with mmap (returned to the OS when freed),
    and trim the heap when that much is free at its top. Returns whether the C library took it; repeated
    calls with the same value do nothing."""
    if threshold_bytes in _applied:
        return True
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to tune
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    for option in (M_TRIM_THRESHOLD, M_MMAP_THRESHOLD):
        if mallopt(option, int(threshold_bytes)) != 1:
            _log.debug("mallopt(%d, %d) refused", option, threshold_bytes)
            return False
    _applied.add(threshold_bytes)
    return True
