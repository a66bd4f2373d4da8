"""Where the wiki_mrc pipeline's time goes: one in-process run with a clock around each kind of work.

``child(argv)`` runs ``pipelines.wiki_mrc`` in this process (FnApiRunner, one worker, pages parsed inline with
``--parse-timeout 0`` so that every stage's CPU is this process's) with the functions of each stage wrapped
in a timer that keeps *exclusive* CPU seconds (``time.process_time``): a stage called inside another (the
tokeniser inside a context's construction) counts for itself only. Stages:

- ``read``: the dump reader (bz2 streams, XML) — ``pipelines.wiki.dump.iter_unit``
- ``parse``: wikitext → text and anchors — ``WikiTextParser.parse``
- ``tokenise``: ``pipelines.tokenize.words`` wherever the pipeline calls it
- ``examples``: queries, masks, contexts, answers (``pipelines.wiki_mrc.examples``), tokeniser excluded
- ``pack``: bodies and mention samples packed and unpacked (pickle + zlib) for their shuffles
- ``write``: rows → Arrow → Parquet
- ``start-up``: each DoFn's set-up (spaCy's import, the tokeniser's first build)
- ``beam``: the rest: the runner, its coders and in-memory shuffles, the DoFns' own bookkeeping.
Wrapping costs a few microseconds a call; the run's CPU against an unwrapped run's shows how much.
"""
from __future__ import annotations

import functools
import json
import threading
import time
from typing import Callable, Dict, List

STAGES = ("read", "parse", "tokenise", "examples", "pack", "write", "start-up")
# Functions of pipelines.wiki_mrc.examples that the pipeline calls (names that no longer exist are skipped: the
# module is being extended).
EXAMPLE_FUNCTIONS = ("has_more_words_than", "build_query", "build_masked_query", "answerable_context",
                     "unrelated_context", "find_answers", "entity_names")


class StageClock:
    """Exclusive CPU seconds per stage. Each thread keeps its own stack of open stages, so a stage's time is its
    own minus that of the stages it called."""

    def __init__(self):
        self.seconds: Dict[str, float] = {stage: 0.0 for stage in STAGES}
        self.calls: Dict[str, int] = {stage: 0 for stage in STAGES}
        self._local = threading.local()
        self._lock = threading.Lock()

    def _stack(self) -> List[List[float]]:
        if not hasattr(self._local, "stack"):
            self._local.stack = []
        return self._local.stack

    def _enter(self) -> None:
        self._stack().append([time.process_time(), 0.0])  # [start, seconds of the stages it called]

    def _exit(self, stage: str) -> None:
        stack = self._stack()
        start, inner = stack.pop()
        spent = time.process_time() - start
        if stack:
            stack[-1][1] += spent
        with self._lock:
            self.seconds[stage] += spent - inner
            self.calls[stage] += 1

    def function(self, stage: str, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def timed(*args, **kwargs):
            self._enter()
            try:
                return fn(*args, **kwargs)
            finally:
                self._exit(stage)
        return timed

    def generator(self, stage: str, fn: Callable) -> Callable:
        """A generator function whose every step counts for ``stage`` (the consumer's time between steps not)."""
        @functools.wraps(fn)
        def timed(*args, **kwargs):
            inner = fn(*args, **kwargs)
            while True:
                self._enter()
                try:
                    item = next(inner)
                except StopIteration:
                    return
                finally:
                    self._exit(stage)
                yield item
        return timed


def instrument(clock: StageClock) -> List[str]:
    """Wrap the pipeline's functions of each stage; the names wrapped."""
    from apache_beam.io import parquetio
    from pipelines.wiki_mrc import examples, pipeline, records
    from pipelines.wiki.parser_process import WikiTextParser
    wrapped = []

    def wrap(owner, name: str, stage: str, kind: str = "function") -> None:
        fn = getattr(owner, name, None)
        if fn is None:
            return
        if kind == "classmethod":
            setattr(owner, name, classmethod(clock.function(stage, fn.__func__)))
        else:
            setattr(owner, name, getattr(clock, kind)(stage, fn))
        wrapped.append(f"{getattr(owner, '__name__', owner)}.{name}")

    wrap(pipeline, "iter_unit", "read", "generator")
    wrap(WikiTextParser, "parse", "parse")
    wrap(pipeline, "words", "tokenise")  # what worker_tokenizer's closure calls
    for name in EXAMPLE_FUNCTIONS:
        wrap(examples, name, "examples")
    wrap(records.Body, "pack", "pack", "classmethod")
    wrap(records.Body, "unpack", "pack")
    for module in (pipeline, records):
        wrap(module, "pack_mentions", "pack")
        wrap(module, "unpack_mentions", "pack")
    wrap(parquetio._RowDictionariesToArrowTable, "process", "write")
    wrap(parquetio._RowDictionariesToArrowTable, "finish_bundle", "write")
    wrap(parquetio._ParquetSink, "write_record", "write")
    wrap(parquetio._ParquetSink, "close", "write")
    wrap(pipeline, "worker_tokenizer", "start-up")
    return wrapped


def child(argv: List[str]) -> None:
    """Run the pipeline in this process with every stage clocked; print the stages' CPU seconds, the run's
    CPU and wall seconds, and what was wrapped."""
    import logging
    import resource
    logging.disable(logging.WARNING)
    from pipelines.wiki_mrc.__main__ import run
    clock = StageClock()
    wrapped = instrument(clock)
    cpu0, start = time.process_time(), time.perf_counter()
    manifest = run([*argv, "--parse-timeout", "0"])
    cpu, seconds = time.process_time() - cpu0, time.perf_counter() - start
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    stages = dict(clock.seconds)
    stages["beam"] = cpu - sum(stages.values())
    print(json.dumps({"seconds": seconds, "cpu_s": cpu, "children_cpu_s": kids.ru_utime + kids.ru_stime,
                      "rows": manifest.row_count, "stages": stages, "calls": clock.calls, "wrapped": wrapped}))
