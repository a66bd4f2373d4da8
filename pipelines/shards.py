"""Writing a dataset from a Beam pipeline: Parquet shards with the kind's schema, their counts, then the manifest;
all of it into the staging folder of the run that publishes the dataset (pipelines/publish.py).

Pipelines count what they drop with ``count_drop`` (named ``dropped.<reason>``) and everything else with
``count``, inside a ``CountingDoFn``. Each count is a Beam counter (for the runner's monitoring) and, for the
manifest, data: a ``CountingDoFn`` tallies its bundle's counts and emits them as elements when the bundle
finishes; ``collect_counts`` sums those elements over the whole pipeline and writes them to ``_counts.json``
beside the shards. A bundle's elements are committed with the bundle, once, on every runner, whereas runners
report metrics differently (attempted or committed, some not at all), so ``write_dataset_manifest`` reads the
counts file, and the row counts from the shards' footers.
"""
from __future__ import annotations

import functools
import json
import logging
import os
import threading
from typing import Any, Iterable

import apache_beam as beam
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from apache_beam import pvalue, typehints
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics.execution import MetricsEnvironment
from apache_beam.metrics.metric import Metrics, MetricsFilter
from apache_beam.runners.runner import PipelineResult
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.windowed_value import WindowedValue

from pipelines import progress
from pipelines.publish import run_id_of, staging_path
from schemas import Manifest, ShardInfo, code_version, get_kind, write_manifest
from schemas.manifest import current_command
from schemas.storage import join, resolve

NAMESPACE = "polyspan"
DROPPED = "dropped."
SHARD_PREFIX = "part"
# Beam's shard template: part-00000-of-00012.parquet, the names schemas/ expects.
SHARD_TEMPLATE = "-SSSSS-of-NNNNN"
# The counts of a run, written by collect_counts beside the shards: {"name": total, ...}.
# "_" first: the data tools skip it when they read the dataset folder (schemas/layout.py).
COUNTS_FILE = "_counts.json"
# The output tag that carries a CountingDoFn's (name, value) elements.
COUNTS = "polyspan_counts"

_log = logging.getLogger(__name__)


# Counter handles by name. A handle only names its counter (each ``inc`` finds the running step's container),
# so one per name serves every bundle and thread; building one per call cost pipelines ~3% of their time.
_COUNTERS: dict = {}


def _counter(name: str):
    handle = _COUNTERS.get(name)
    if handle is None:
        handle = _COUNTERS[name] = Metrics.counter(NAMESPACE, name)
    return handle


# The tallies of the CountingDoFn calls running on this thread, innermost last. Fused steps run nested on one
# thread (a step's output is processed downstream before the step resumes), so a count goes to the step whose
# code made it only if each step's tally is on top exactly while its own code runs.
_ACTIVE = threading.local()


def _stack() -> list:
    stack = getattr(_ACTIVE, "stack", None)
    if stack is None:
        stack = _ACTIVE.stack = []
    return stack


def _record(name: str, value: int) -> None:
    _counter(name).inc(value)
    stack = getattr(_ACTIVE, "stack", None)
    if stack:
        tally = stack[-1]
        tally[name] = tally.get(name, 0) + value
    elif MetricsEnvironment.current_container() is not None:
        # Inside a running step that is no CountingDoFn: the count would reach no manifest.
        raise RuntimeError(f"count {name!r} made outside a CountingDoFn: make the step's DoFn a "
                           "pipelines.shards.CountingDoFn (a Map or FlatMap: CountingFlatMap)")


def count(name: str, value: int = 1) -> None:
    """Add to the count ``name`` (call inside a CountingDoFn; outside a pipeline it only touches the metric)."""
    _record(name, value)


def count_drop(reason: str, value: int = 1) -> None:
    """Count an input record that does not become a row, under a named reason."""
    _record(DROPPED + reason, value)


def _counted(iterator, tally: dict):
    """``iterator``'s items, with ``tally`` on top of the stack while it computes each one (not while the
    item is processed downstream)."""
    stack = _stack()
    while True:
        stack.append(tally)
        try:
            item = next(iterator)
        except StopIteration:
            return
        finally:
            stack.pop()
        yield item


def _tally_of(dofn) -> dict:
    tally = dofn.__dict__.get("_polyspan_tally")
    if tally is None:
        tally = dofn._polyspan_tally = {}
    return tally


def _call_counted(tally: dict, method, *args, **kwargs):
    """``method(*args, **kwargs)`` with ``tally`` on top of the stack while it runs."""
    stack = _stack()
    stack.append(tally)
    try:
        return method(*args, **kwargs)
    finally:
        stack.pop()


def _wrap_process(method):
    @functools.wraps(method)  # Beam reads the parameters (side inputs, DoFn params) through __wrapped__
    def process(self, *args, **kwargs):
        progress.element_started(type(self).__name__)  # every counting step's progress lines (pipelines/progress.py)
        tally = _tally_of(self)
        # A generator runs nothing yet; a list is complete here.
        result = _call_counted(tally, method, self, *args, **kwargs)
        return None if result is None else _counted(iter(result), tally)
    process._polyspan_counting = True
    return process


def _wrap_start_bundle(method):
    @functools.wraps(method)
    def start_bundle(self, *args, **kwargs):
        self._polyspan_tally = {}  # a retried bundle starts from nothing: its failed attempt's output is gone
        return method(self, *args, **kwargs)
    start_bundle._polyspan_counting = True
    return start_bundle


def _wrap_finish_bundle(method):
    @functools.wraps(method)
    def finish_bundle(self, *args, **kwargs):
        progress.bundle_finished(type(self).__name__)
        tally = _tally_of(self)
        result = _call_counted(tally, method, self, *args, **kwargs)
        return _with_counts(None if result is None else _counted(iter(result), tally), tally)
    finish_bundle._polyspan_counting = True
    return finish_bundle


def _with_counts(outputs, tally: dict):
    if outputs is not None:
        yield from outputs
    # finish_bundle's outputs name their window; these batch pipelines run in the global window.
    for name, value in sorted(tally.items()):
        yield pvalue.TaggedOutput(COUNTS, WindowedValue((name, value), GlobalWindow().max_timestamp(),
                                                        (GlobalWindow(),)))
    tally.clear()


class CountingDoFn(beam.DoFn):
    """A DoFn whose ``count``/``count_drop`` calls (its own, or those of functions it calls) become data: summed
    per bundle and emitted, when the bundle finishes, as (name, value) elements on the ``COUNTS`` output, which
    ``collect_counts`` gathers. Subclasses write ``process``, ``start_bundle`` and ``finish_bundle`` as usual."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name, wrap in (("process", _wrap_process), ("start_bundle", _wrap_start_bundle),
                           ("finish_bundle", _wrap_finish_bundle)):
            method = cls.__dict__.get(name)
            if method is not None and not getattr(method, "_polyspan_counting", False):
                setattr(cls, name, wrap(method))

    @_wrap_start_bundle
    def start_bundle(self):
        pass

    @_wrap_finish_bundle
    def finish_bundle(self):
        return None


class CountingFlatMap(CountingDoFn):
    """``beam.FlatMap(fn, *args)`` as a CountingDoFn, for a function that counts."""

    def __init__(self, fn, *args):
        super().__init__()
        self.fn = fn
        self.args = args

    def process(self, element):
        return self.fn(element, *self.args)


class _CountsToJson(beam.CombineFn):
    def create_accumulator(self):
        return {}

    def add_input(self, totals, element):
        name, value = element
        totals[name] = totals.get(name, 0) + value
        return totals

    def merge_accumulators(self, accumulators):
        merged: dict = {}
        for totals in accumulators:
            for name, value in totals.items():
                merged[name] = merged.get(name, 0) + value
        return merged

    def extract_output(self, totals):
        return json.dumps(dict(sorted(totals.items())), indent=1)


def collect_counts(pipeline: beam.Pipeline, path: str) -> None:
    """Give every ``CountingDoFn`` step applied to ``pipeline`` so far its ``COUNTS`` output and write the sum of
    all of them to ``path`` (a JSON object, ``{}`` when nothing was counted). ``WriteShards`` calls it for its
    directory; a run writing several datasets writes the run's counts beside each."""
    outputs = pipeline.__dict__.setdefault("_polyspan_counts", [])

    class _Visitor(beam.pipeline.PipelineVisitor):
        def visit_transform(self, applied):
            transform = applied.transform
            if isinstance(transform, beam.ParDo) and isinstance(transform.fn, CountingDoFn) \
                    and COUNTS not in applied.outputs:
                counts = pvalue.PCollection(pipeline, tag=COUNTS, element_type=typehints.Tuple[str, int],
                                            is_bounded=True)
                counts.producer = applied
                applied.add_output(counts, COUNTS)
                outputs.append(counts)

    pipeline.visit(_Visitor())
    if outputs:
        counted = tuple(outputs) | f"AllCounts[{path}]" >> beam.Flatten()
    else:
        counted = pipeline | f"NoCounts[{path}]" >> beam.Create([]).with_output_types(typehints.Tuple[str, int])
    _ = (counted
         | f"SumCounts[{path}]" >> beam.CombineGlobally(_CountsToJson())
         | f"WriteCounts[{path}]" >> beam.io.WriteToText(path, shard_name_template="", num_shards=1))


def read_counts(path: str) -> dict[str, int]:
    """The counts ``collect_counts`` wrote."""
    with FileSystems.open(path) as handle:
        return {name: int(value) for name, value in json.loads(handle.read().decode("utf-8")).items()}


class WriteShards(beam.PTransform):
    """Rows (dicts) → ``directory/part-NNNNN-of-MMMMM.parquet`` with the schema of ``kind``, and the run's
    counts → ``directory/_counts.json``: apply it after every counting step of the pipeline.

    ``num_shards=0`` lets the runner choose (parallel writes on a cluster); a fixed number gives the same
    file layout on every runner, which tests and small local runs prefer.
    """

    def __init__(self, directory: str, kind: str, num_shards: int = 0, row_group_rows: int = 10_000):
        super().__init__()
        # A run that publishes ``directory`` (pipelines.publish) has its shards written to its staging folder,
        # each naming the run in its metadata; without one (a graph built by a test) they go to ``directory``.
        self.directory = staging_path(directory)
        self.run_id = run_id_of(directory)
        self.kind = get_kind(kind)
        self.num_shards = num_shards
        self.row_group_rows = row_group_rows

    def expand(self, rows):
        # The counts of every CountingDoFn applied before this write, beside the shards (see collect_counts).
        collect_counts(rows.pipeline, join(self.directory, COUNTS_FILE))
        return rows | "WriteParquet" >> beam.io.WriteToParquet(
            file_path_prefix=join(self.directory, SHARD_PREFIX),
            schema=self.kind.schema_with_metadata(self.run_id),
            file_name_suffix=".parquet",
            num_shards=self.num_shards,
            shard_name_template=SHARD_TEMPLATE,
            record_batch_size=min(1000, self.row_group_rows),
            row_group_buffer_size=64 * 1024 * 1024,
            codec="zstd",
        )


def pipeline_counters(result: PipelineResult) -> dict[str, int]:
    """Every ``polyspan`` metric of a finished pipeline, summed over steps: what the runner reports, for
    monitoring and tests; manifests take their counts from ``_counts.json`` instead (see the module's doc).

    Committed values where the runner reports them (Direct, Dataflow), else attempted ones (portable runners
    may report only those)."""
    totals: dict[str, int] = {}
    query = result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))
    for counter in query["counters"]:
        value = counter.committed if counter.committed is not None else counter.attempted
        totals[counter.key.metric.name] = totals.get(counter.key.metric.name, 0) + int(value or 0)
    return dict(sorted(totals.items()))


def list_shards(directory: str) -> list[ShardInfo]:
    """The shard files in ``directory`` with their row counts from the Parquet footers and their sizes."""
    fs, base = resolve(directory)
    infos = sorted((info for info in fs.get_file_info(pafs.FileSelector(base))
                    if info.base_name.startswith(SHARD_PREFIX + "-") and info.base_name.endswith(".parquet")),
                   key=lambda info: info.base_name)
    shards = []
    for info in infos:
        with fs.open_input_file(info.path) as handle:
            shards.append(ShardInfo(file=info.base_name, rows=pq.ParquetFile(handle).metadata.num_rows,
                                    bytes=info.size))
    return shards


def write_dataset_manifest(result: PipelineResult, directory: str, kind: str, config: dict[str, Any],
                           input_files: Iterable[str], command: list[str] | None = None,
                           counters: dict[str, int] | None = None) -> Manifest:
    """Wait for the pipeline, then write ``directory/_manifest.json`` from its counts (``directory/_counts.json``,
    written by ``collect_counts``) and shards, once (a reader never sees a manifest whose counters are rewritten
    after it appeared). ``counters``: the ones to record when not all of the run's belong to this dataset (one
    run writing several datasets)."""
    result.wait_until_finish()
    counters = read_counts(join(directory, COUNTS_FILE)) if counters is None else counters
    dropped = {name[len(DROPPED):]: value for name, value in counters.items() if name.startswith(DROPPED)}
    others = {name: value for name, value in counters.items() if not name.startswith(DROPPED)}
    manifest = Manifest(
        kind=kind,
        schema_version=get_kind(kind).version,
        command=command if command is not None else current_command(),
        config=config,
        code_version=code_version(),
        input_files=sorted(os.fspath(f) for f in input_files),
        shards=list_shards(directory),
        dropped=dropped,
        counters=others,
    )
    write_manifest(directory, manifest)
    _log.info("wrote %d rows in %d shard(s) to %s; dropped %s", manifest.row_count, len(manifest.shards),
              directory, dropped or "nothing")
    return manifest
