"""pipelines.gc_tuning, in a fresh interpreter (freezing is process-wide)."""
import subprocess
import sys

from conftest import REPO_ROOT

SCRIPT = r"""
import gc, weakref
from pipelines.gc_tuning import freeze_startup_objects

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
    result = subprocess.run([sys.executable, "-c", SCRIPT], cwd=REPO_ROOT, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) >= 2  # the two Nodes of the cycle made after the freeze (and their dicts)
