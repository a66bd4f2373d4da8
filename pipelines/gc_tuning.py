"""Keep Python's cyclic garbage collector off the objects a worker process builds before its first element.

A Beam worker that tokenises imports Beam, gRPC, protobuf and spaCy: about half a million objects the collector
tracks and that live as long as the process. Every full collection during the run traverses all of them again,
and so does the last collection when the interpreter exits. The local runner stops its worker processes one
after another and waits for each to exit, which took 0.4–0.7 s a worker, up to 15% of a 2-worker run on the
English sample (bench/wiki_mrc.py). ``gc.freeze()`` moves every tracked object to the permanent generation,
which collections skip: the exit takes 0.05 s.

Objects created afterwards are collected as usual, and freeing by reference count is unaffected; what freezing
gives up is collecting reference cycles that exist at the moment of the call. Hence a full collection just
before it, and the call happens once per process, from a DoFn's ``setup``, after the imports and before any
element, when what exists is the code and its tables.
"""
from __future__ import annotations

import gc

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
