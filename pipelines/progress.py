"""Progress lines of every pipeline step that can take minutes, from the workers that run it.

Every ``CountingDoFn`` (pipelines/shards.py) reports each element it starts (``element_started``): reading a
dump unit or a corpus, parsing pages, aligning batches, projecting labels, building rows. Per worker process
and step, a log line says how many elements the step has taken and at what rate, at most every ``EVERY_S``
seconds, and once more at the end of a bundle when the step has been busy for a while since its last line, so a
step that ends between two lines still says how far it got. Its steps being the pipeline's own, the lines name
them by class (``ParsePages``), not by Beam's step label.

Where the lines go: on the local runners (DirectRunner → Prism with loopback workers, FnApiRunner) the workers
run in the launching process, so the lines reach its stderr as the run goes; on Dataflow, Flink or Spark they
are worker log lines (Dataflow: the job's worker logs in Cloud Logging, filtered by step), and the runner's own
UI shows the element counts of every step. Totals are not known in a worker, so the lines have rates but no
ETA; the manifest's counters are the exact figures (``_counts.json``).
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable

_log = logging.getLogger(__name__)

EVERY_S = 15.0  # the most a busy step stays silent in a worker
BUNDLE_LINE_AFTER_S = 5.0  # a bundle's end prints a line when the step worked this long since its last one


class StepProgress:
    """What one step has taken in this worker process; ``add`` returns the line when one is due."""

    def __init__(self, name: str, every_s: float | None = None, clock: Callable[[], float] = time.monotonic):
        self.name, self.clock = name, clock
        self.every_s = EVERY_S if every_s is None else every_s
        self.elements = 0
        self.started: float | None = None  # at the first element: set-up time is not the step's work
        self.last_line: float | None = None
        self.reported = 0  # elements at the last line

    def add(self, n: int = 1) -> str | None:
        now = self.clock()
        if self.started is None:
            self.started = self.last_line = now
        self.elements += n
        return self.line(now) if now - self.last_line >= self.every_s else None

    def bundle_finished(self) -> str | None:
        """The line a bundle's end owes: the step took elements since its last line and worked a while."""
        if self.started is None or self.elements == self.reported:
            return None
        now = self.clock()
        return self.line(now) if now - self.last_line >= BUNDLE_LINE_AFTER_S else None

    def line(self, now: float) -> str:
        seconds = max(now - self.started, 1e-9)
        self.last_line, self.reported = now, self.elements
        return (f"{self.name}: {self.elements} elements in {seconds:.0f} s on this worker "
                f"({self.elements / seconds:.3g}/s)")


_steps: dict[str, StepProgress] = {}
_lock = threading.Lock()  # a worker process runs bundles of one step on several threads


def _step(name: str) -> StepProgress:
    step = _steps.get(name)
    if step is None:
        step = _steps.setdefault(name, StepProgress(name))
    return step


def element_started(name: str) -> None:
    """One more element of step ``name`` in this process; logs the step's line when one is due."""
    with _lock:
        line = _step(name).add()
    if line:
        _log.info(line)


def bundle_finished(name: str) -> None:
    with _lock:
        line = _step(name).bundle_finished()
    if line:
        _log.info(line)
