"""Opening and validating a dataset directory: its manifest, its shards and their schema.

``validate_dataset`` lists every way a directory departs from the contract, each problem naming the shard,
the column and (for row checks) the row. ``open_dataset`` is what readers call: it refuses a directory with a
schema problem and then streams record batches, never loading a whole dataset.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Iterator

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from schemas.errors import UserError
from schemas.kinds import DatasetKind, get_kind
from schemas.layout import MANIFEST, RUN_ID_KEY, skipped_by_readers
from schemas.manifest import Manifest, ShardInfo, manifest_file, read_manifest
from schemas.registry import UnknownNameError
from schemas.row_checks import ROW_CHECKS
from schemas.storage import join, resolve

SHARD_NAME = re.compile(r"^part-(\d{5})-of-(\d{5})\.parquet$")


class DatasetError(UserError, ValueError):
    """A dataset directory that does not match its declared kind; ``problems`` lists every mismatch."""

    def __init__(self, directory: str, problems: list[str]):
        self.directory = directory
        self.problems = problems
        listing = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{directory} is not a valid polyspan dataset:\n{listing}")


def schema_problems(expected: pa.Schema, actual: pa.Schema, where: str) -> list[str]:
    """Every column that is missing, unexpected, of another type or of another nullability."""
    problems = []
    for field in expected:
        index = actual.get_field_index(field.name)
        if index < 0:
            problems.append(f"{where}: missing column {field.name!r} ({field.type})")
            continue
        found = actual.field(index)
        if not found.type.equals(field.type):
            problems.append(f"{where}: column {field.name!r} is {found.type}, "
                            f"expected {field.type}")
        elif found.nullable != field.nullable and not field.nullable:
            problems.append(f"{where}: column {field.name!r} is nullable, expected non-nullable")
    for name in actual.names:
        if expected.get_field_index(name) < 0:
            problems.append(f"{where}: unexpected column {name!r}")
    return problems


# What pyarrow raises for a file that is not Parquet, or is cut short or damaged: its message names no file.
_UNREADABLE = (pa.ArrowException, OSError)


def _unreadable(directory: str, shard: str, err: Exception) -> DatasetError:
    return DatasetError(directory, [f"{shard}: not a readable Parquet file ({err}); the shard is damaged, cut "
                                    "short or was never Parquet"])


def parquet_file(handle, directory: str, shard: str) -> pq.ParquetFile:
    """``pq.ParquetFile(handle)``, a file that is not Parquet being a ``DatasetError`` naming the shard."""
    try:
        return pq.ParquetFile(handle)
    except _UNREADABLE as err:
        raise _unreadable(directory, shard, err) from None


def parquet_batches(handle, directory: str, shard: str, **options) -> Iterator[pa.RecordBatch]:
    """``iter_batches`` of a shard: a page that cannot be decoded is a ``DatasetError`` naming the shard."""
    try:
        yield from parquet_file(handle, directory, shard).iter_batches(**options)
    except _UNREADABLE as err:
        raise _unreadable(directory, shard, err) from None


@dataclass
class Dataset:
    """A validated dataset directory: manifest, kind and shard paths inside ``filesystem``."""

    directory: str
    manifest: Manifest
    kind: DatasetKind
    filesystem: object
    shard_paths: list[str]

    @property
    def num_rows(self) -> int:
        return self.manifest.row_count

    def iter_batches(self, columns: list[str] | None = None, batch_size: int = 1024,
                     shards: list[int] | None = None) -> Iterator[pa.RecordBatch]:
        """Stream record batches, shard after shard (optionally only the shards with the given indices)."""
        for index in (range(len(self.shard_paths)) if shards is None else shards):
            path = self.shard_paths[index]
            with self.filesystem.open_input_file(path) as handle:
                yield from parquet_batches(handle, self.directory, os.path.basename(path), batch_size=batch_size,
                                           columns=columns)

    def iter_rows(self, columns: list[str] | None = None) -> Iterator[dict]:
        for batch in self.iter_batches(columns=columns):
            yield from batch.to_pylist()

    def to_arrow(self, columns: list[str] | None = None) -> pa.Table:
        """The whole dataset as one table (in memory: for datasets that fit), with the kind's schema."""
        schema = self.kind.schema if columns is None else pa.schema([self.kind.schema.field(c) for c in columns])
        return pa.Table.from_batches(list(self.iter_batches(columns=columns, batch_size=64 * 1024)), schema=schema)

    def to_pandas(self, columns: list[str] | None = None):
        """The whole dataset as a pandas DataFrame (pandas is needed for this method only)."""
        return self.to_arrow(columns).to_pandas()


def _locate(directory: str | os.PathLike) -> tuple[object, str, Manifest, DatasetKind | None, list[str]]:
    fs, base = resolve(directory)
    manifest = read_manifest(directory)
    name = manifest_file(fs, base)
    problems = []
    try:
        kind = get_kind(manifest.kind)
    except UnknownNameError as err:
        return fs, base, manifest, None, [f"{name}: {err}"]
    if manifest.schema_version != kind.version:
        problems.append(f"{name}: schema_version {manifest.schema_version}, this code reads "
                        f"{kind.name} version {kind.version}")
    return fs, base, manifest, kind, problems


def _shard_problems(fs, base: str, manifest: Manifest, manifest_name: str) -> list[str]:
    problems = []
    listed = [shard.file for shard in manifest.shards]
    entries = fs.get_file_info(pafs.FileSelector(base))
    present = {info.base_name for info in entries if info.base_name.endswith(".parquet")}
    if manifest_name == MANIFEST:
        # The layout's promise (schemas/layout.py): the data tools read the folder as the shards alone. Older
        # folders (manifest.json beside report/ and dump_faults.txt) never made it, so are not held to it.
        for info in entries:
            if not info.base_name.endswith(".parquet") and not skipped_by_readers(info.base_name):
                problems.append(f"{info.base_name}: not a shard, yet pandas, pyarrow and Spark read every name "
                                "without a leading _ or . in a dataset folder as one: rename it "
                                f"_{info.base_name} or move it out")
    for name in listed:
        if name not in present:
            problems.append(f"{name}: listed in {manifest_name} but missing")
    for name in sorted(present - set(listed)):
        problems.append(f"{name}: present but not listed in {manifest_name}")
    totals = {m.group(2) for m in map(SHARD_NAME.match, listed) if m}
    if any(SHARD_NAME.match(name) is None for name in listed):
        problems.append(f"{manifest_name}: shard names must look like part-00000-of-00012.parquet")
    elif len(totals) > 1 or (totals and len(listed) != int(totals.pop())):
        problems.append(f"{manifest_name}: {len(listed)} shards listed, their names promise another count")
    return problems


def _same_run_problems(fs, path: str, parquet: pq.ParquetFile, shard: ShardInfo, manifest: Manifest,
                       manifest_name: str) -> list[str]:
    """What shows that a shard is not the one its manifest describes: its row count, its size, the run named
    in its Parquet metadata (size and run are recorded since the publish step; older manifests lack them)."""
    problems = []
    if parquet.metadata.num_rows != shard.rows:
        problems.append(f"{shard.file}: {parquet.metadata.num_rows} rows, {manifest_name} says {shard.rows}")
    if shard.bytes is not None:
        size = fs.get_file_info(path).size
        if size != shard.bytes:
            problems.append(f"{shard.file}: {size} bytes, {manifest_name} says {shard.bytes}")
    if manifest.run_id:
        written_by = (parquet.schema_arrow.metadata or {}).get(RUN_ID_KEY, b"").decode("utf-8", "replace")
        if written_by != manifest.run_id:
            problems.append(f"{shard.file}: written by run {written_by or '(none named)'}, {manifest_name} is "
                            f"of run {manifest.run_id}: the folder mixes the files of two runs; rerun the "
                            "pipeline with --overwrite")
    return problems


def open_dataset(directory: str | os.PathLike, kind: str | None = None) -> Dataset:
    """Open a dataset directory for reading, checking manifest, shard files and every shard's schema
    (row contents are checked by ``validate_dataset``). Raises ``DatasetError`` listing every problem."""
    fs, base, manifest, dataset_kind, problems = _locate(directory)
    manifest_name = manifest_file(fs, base)
    if kind is not None and manifest.kind != kind:
        problems.append(f"{manifest_name}: kind {manifest.kind!r}, expected {kind!r}")
    problems += _shard_problems(fs, base, manifest, manifest_name)
    if dataset_kind is None or problems:
        raise DatasetError(str(directory), problems)
    paths = [join(base, shard.file) for shard in manifest.shards]
    for shard, path in zip(manifest.shards, paths):
        with fs.open_input_file(path) as handle:
            try:
                parquet = parquet_file(handle, str(directory), shard.file)
            except DatasetError as err:
                problems += err.problems
                continue
            problems += schema_problems(dataset_kind.schema, parquet.schema_arrow, shard.file)
            problems += _same_run_problems(fs, path, parquet, shard, manifest, manifest_name)
    if problems:
        raise DatasetError(str(directory), problems)
    return Dataset(str(directory), manifest, dataset_kind, fs, paths)


def validate_dataset(directory: str | os.PathLike, check_rows: bool = True, max_problems: int = 100) -> list[str]:
    """Every problem of a dataset directory, up to ``max_problems``; an empty list means valid.

    With ``check_rows`` each row is also checked: offsets inside their text
    and equal to the span text, tags per token, one answer per [QUE]; problems name shard and row."""
    try:
        dataset = open_dataset(directory)
    except DatasetError as err:
        return err.problems[:max_problems]
    except (FileNotFoundError, ValueError) as err:
        return [str(err)]
    if not check_rows:
        return []
    # Nulls need no row check: the schema check above refuses nullable columns where the kind forbids them,
    # and Parquet writers refuse nulls in non-nullable columns.
    problems: list[str] = []
    check = ROW_CHECKS[dataset.kind.name]
    for shard, path in zip(dataset.manifest.shards, dataset.shard_paths):
        row_number = 0
        with dataset.filesystem.open_input_file(path) as handle:
            try:
                for batch in parquet_batches(handle, str(directory), shard.file, batch_size=2048):
                    for row in batch.to_pylist():
                        problems += [f"{shard.file} row {row_number} (id {row['id']!r}): {p}"
                                     for p in check(row, dataset.manifest.config)]
                        if len(problems) >= max_problems:
                            return problems[:max_problems]
                        row_number += 1
            except DatasetError as err:  # a page that cannot be decoded ends this dataset's check
                return (problems + err.problems)[:max_problems]
    return problems
