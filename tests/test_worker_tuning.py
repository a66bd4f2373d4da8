"""pipelines.worker_tuning, in fresh interpreters (both settings are process-wide): the mmap threshold checked on
glibc itself, the freeze on the collector."""
import subprocess
import sys

from conftest import REPO_ROOT

MALLOC_SCRIPT = r"""
import ctypes, sys
from pipelines.worker_tuning import fix_mmap_threshold

FIELDS = ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in FIELDS]

libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = MallInfo2
if sys.argv[1] == "fixed":
    assert fix_mmap_threshold() and fix_mmap_threshold()
big = bytearray(8 << 20)  # served by mmap; by default, freeing it raises glibc's threshold to 8 MB
del big
before = libc.mallinfo2().hblks
page = bytearray(512 << 10)
print(libc.mallinfo2().hblks - before)
"""


def mmapped_blocks_for_a_page_sized_buffer(mode: str) -> str:
    result = subprocess.run([sys.executable, "-c", MALLOC_SCRIPT, mode], cwd=REPO_ROOT, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_a_fixed_threshold_keeps_page_sized_buffers_off_the_heap():
    """By default, once a large block has been freed, a 512 KB buffer comes from the heap (no new mapping);
    with the threshold fixed it gets a mapping of its own, which free() gives back to the OS."""
    assert mmapped_blocks_for_a_page_sized_buffer("default") == "0"
    assert mmapped_blocks_for_a_page_sized_buffer("fixed") == "1"


GC_SCRIPT = r"""
import gc, weakref
from pipelines.worker_tuning import freeze_startup_objects

class Node:
    pass

def cycle():
    a, b = Node(), Node()
    a.other, b.other = b, a
    return weakref.ref(a)

gc.disable()  # no automatic collection may free the cycles: only the calls below
before = cycle()  # garbage before the freeze: the collection before it must free it, not freeze it
assert freeze_startup_objects() and not freeze_startup_objects()
assert before() is None, "a dead cycle was frozen"
assert gc.get_freeze_count() > 1000, gc.get_freeze_count()
cycle()  # garbage after the freeze: collected as usual
print(gc.collect())
"""


def test_freezing_skips_what_exists_and_still_collects_what_comes_after():
    result = subprocess.run([sys.executable, "-c", GC_SCRIPT], cwd=REPO_ROOT, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) >= 2  # the two Nodes of the cycle made after the freeze (and their dicts)
