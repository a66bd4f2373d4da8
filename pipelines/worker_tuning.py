"""Process-wide settings a pipeline worker (and a local runner) makes once, before its first element.

Two settings, each measured on the English sample with bench/wiki_mrc.py:

**glibc's mmap threshold is fixed** (:func:`fix_mmap_threshold`), to keep the heap from growing with a pipeline's
transient large buffers. A wiki page's wikitext, its parse result and the pickles that carry them to and from the
parser process are blocks of tens to hundreds of KB, freed right after use. glibc serves blocks above
``M_MMAP_THRESHOLD`` with their own mmap and gives them back on free, but by default it *raises* that threshold
to the size of every such block freed (up to 32 MB). After the first large page, every later one comes from the
heap, between the small objects that outlive it, and the process keeps the holes: with the local runner, peak
memory on the English sample repeated 4x grew 33% over the sample, and 23% with a fixed threshold
(bench/wiki_mrc.py).

The adjustment also raises the trim threshold to twice the mmap threshold, so free memory at the top of the
heap stays mapped. Setting both explicitly (what ``MALLOC_MMAP_THRESHOLD_`` and ``MALLOC_TRIM_THRESHOLD_``
do) turns the adjustment off and restores glibc's starting values. The call is process-wide, cheap, and a
no-op where the C library is not glibc.

**What exists at startup is frozen** (:func:`freeze_startup_objects`), to keep Python's cyclic garbage
collector off the objects a worker process builds before its first element. A Beam worker that tokenises
imports Beam, gRPC, protobuf and spaCy: about half a million objects the collector tracks and that live as long
as the process. Every full collection during the run traverses all of them again, and so does the last
collection when the interpreter exits. The local runner stops its worker processes one after another and waits
for each to exit, which took 0.4–0.7 s a worker, up to 15% of a 2-worker run on the English sample.
``gc.freeze()`` moves every tracked object to the permanent generation, which collections skip: the exit takes
0.05 s.

Objects created afterwards are collected as usual, and freeing by reference count is unaffected; what freezing
gives up is collecting reference cycles that exist at the moment of the call. Hence a full collection just
before it, and the call happens once per process, from a DoFn's ``setup``, after the imports and before any
element, when what exists is the code and its tables.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import gc
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


_frozen = False


def freeze_startup_objects() -> bool:
    """Collect, then freeze everything that exists now (once per process). Returns whether this call froze."""
    global _frozen
    if _frozen:
        return False
    gc.collect()
    gc.freeze()
    _frozen = True
    return True
