"""Writing a dataset from a Beam pipeline: Parquet shards with the kind's schema, then ``manifest.json``.

Pipelines count what they drop with ``count_drop`` (Beam counters in the ``polyspan`` namespace, named
``dropped.<reason>``) and everything else with ``count`` ; ``write_dataset_manifest`` reads those counters from
the finished pipeline and the row counts from the shards' footers, so the manifest is true on every runner.
"""
from __future__ import annotations

import logging
import os
from typing import Any, Iterable

import apache_beam as beam
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from apache_beam.metrics.metric import Metrics, MetricsFilter
from apache_beam.runners.runner import PipelineResult

from schemas import Manifest, ShardInfo, code_version, get_kind, write_manifest
from schemas.manifest import current_command
from schemas.storage import join, resolve

NAMESPACE = "polyspan"
DROPPED = "dropped."
SHARD_PREFIX = "part"
# Beam's shard template: part-00000-of-00012.parquet, the names schemas/ expects.
SHARD_TEMPLATE = "-SSSSS-of-NNNNN"

_log = logging.getLogger(__name__)


# Counter handles by name. A handle only names its counter (each ``inc`` finds the running step's container),
# so one per name serves every bundle and thread; building one per call cost pipelines ~3% of their time.
_COUNTERS: dict = {}


def _counter(name: str):
    handle = _COUNTERS.get(name)
    if handle is None:
        handle = _COUNTERS[name] = Metrics.counter(NAMESPACE, name)
    return handle


def count(name: str, value: int = 1) -> None:
    """Add to the counter ``name`` (call inside a DoFn)."""
    _counter(name).inc(value)


def count_drop(reason: str, value: int = 1) -> None:
    """Count an input record that does not become a row, under a named reason."""
    _counter(DROPPED + reason).inc(value)


class WriteShards(beam.PTransform):
    """Rows (dicts) → ``directory/part-NNNNN-of-MMMMM.parquet`` with the schema of ``kind``.

    ``num_shards=0`` lets the runner choose (parallel writes on a cluster); a fixed number gives the same
    file layout on every runner, which tests and small local runs prefer.
    """

    def __init__(self, directory: str, kind: str, num_shards: int = 0, row_group_rows: int = 10_000):
        super().__init__()
        self.directory = directory
        self.kind = get_kind(kind)
        self.num_shards = num_shards
        self.row_group_rows = row_group_rows

    def expand(self, rows):
        return rows | "WriteParquet" >> beam.io.WriteToParquet(
            file_path_prefix=join(self.directory, SHARD_PREFIX),
            schema=self.kind.schema_with_metadata(),
            file_name_suffix=".parquet",
            num_shards=self.num_shards,
            shard_name_template=SHARD_TEMPLATE,
            record_batch_size=min(1000, self.row_group_rows),
            row_group_buffer_size=64 * 1024 * 1024,
            codec="zstd",
        )


def pipeline_counters(result: PipelineResult) -> dict[str, int]:
    """Every ``polyspan`` counter of a finished pipeline, summed over steps.

    Committed values where the runner reports them (Direct, Dataflow), else attempted ones (portable runners
    may report only those)."""
    totals: dict[str, int] = {}
    query = result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))
    for counter in query["counters"]:
        value = counter.committed if counter.committed is not None else counter.attempted
        totals[counter.key.metric.name] = totals.get(counter.key.metric.name, 0) + int(value or 0)
    return dict(sorted(totals.items()))


def list_shards(directory: str) -> list[ShardInfo]:
    """The shard files in ``directory`` with their row counts from the Parquet footers."""
    fs, base = resolve(directory)
    names = sorted(info.base_name for info in fs.get_file_info(pafs.FileSelector(base))
                   if info.base_name.startswith(SHARD_PREFIX + "-") and info.base_name.endswith(".parquet"))
    shards = []
    for name in names:
        with fs.open_input_file(join(base, name)) as handle:
            shards.append(ShardInfo(file=name, rows=pq.ParquetFile(handle).metadata.num_rows))
    return shards


def write_dataset_manifest(result: PipelineResult, directory: str, kind: str, config: dict[str, Any],
                           input_files: Iterable[str], command: list[str] | None = None,
                           counters: dict[str, int] | None = None) -> Manifest:
    """Wait for the pipeline, then write ``directory/manifest.json`` from its counters and shards, once (a reader
    never sees a manifest whose counters are rewritten after it appeared). ``counters``: the ones to record when
    not all of the pipeline's belong to this dataset (one run writing several datasets)."""
    result.wait_until_finish()
    counters = pipeline_counters(result) if counters is None else counters
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
