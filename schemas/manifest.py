"""``_manifest.json``: what produced a dataset directory, and what it holds (``manifest.json`` in folders written
before the layout of ``schemas/layout.py``; both are read).

The manifest answers the questions a user asks of a dataset months later: which command and config made it,
from which code and which input files, how many rows each shard has, and how many input records were dropped
for which reason (DESIGN.md: nothing silently lost).
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import pyarrow.fs as pafs

from schemas.errors import InputDataError
from schemas.layout import LEGACY_MANIFEST, MANIFEST
from schemas.storage import join, resolve

MANIFEST_NAME = MANIFEST


@dataclass
class ShardInfo:
    """One shard file of a dataset (name relative to the dataset directory), its row count and its size in
    bytes (None in manifests written before sizes were recorded)."""

    file: str
    rows: int
    bytes: int | None = None


@dataclass
class Manifest:
    kind: str
    schema_version: int
    command: list[str]
    config: dict[str, Any]
    code_version: str
    input_files: list[str]
    shards: list[ShardInfo]
    # Input records that did not become rows, by reason ("pages_skipped_disambiguation": 12, ...).
    dropped: dict[str, int] = field(default_factory=dict)
    # Every other counter the producer kept (pages read, links resolved, examples per kind, ...).
    counters: dict[str, int] = field(default_factory=dict)
    created_at: str = field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    # The run that wrote the shards: each shard carries it in its Parquet metadata (schemas.layout.RUN_ID_KEY),
    # so a folder whose shards and manifest come from different runs is caught. "" in older manifests.
    run_id: str = ""

    @property
    def row_count(self) -> int:
        return sum(shard.rows for shard in self.shards)

    def to_json(self) -> str:
        data = asdict(self)
        data["row_count"] = self.row_count
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, text: str, where: str = MANIFEST_NAME) -> "Manifest":
        """Parse a manifest; a clear ``ValueError`` naming ``where`` when it is not one."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise InputDataError(f"{where}: not valid JSON (line {err.lineno}, column {err.colno}): "
                                 f"{err.msg}") from None
        if not isinstance(data, dict):
            raise InputDataError(f"{where}: expected a JSON object, found {type(data).__name__}")
        required = ["kind", "schema_version", "command", "config", "code_version", "input_files", "shards"]
        missing = [key for key in required if key not in data]
        if missing:
            raise InputDataError(f"{where}: missing keys {', '.join(missing)}")
        try:
            shards = [ShardInfo(file=str(s["file"]), rows=int(s["rows"]),
                                bytes=None if s.get("bytes") is None else int(s["bytes"])) for s in data["shards"]]
        except (TypeError, KeyError, ValueError) as err:
            raise InputDataError(f"{where}: 'shards' must be a list of {{'file', 'rows'}} objects ({err})") from None
        return cls(
            kind=str(data["kind"]),
            schema_version=int(data["schema_version"]),
            command=list(data["command"]),
            config=dict(data["config"]),
            code_version=str(data["code_version"]),
            input_files=list(data["input_files"]),
            shards=shards,
            dropped={str(k): int(v) for k, v in data.get("dropped", {}).items()},
            counters={str(k): int(v) for k, v in data.get("counters", {}).items()},
            created_at=str(data.get("created_at", "")),
            run_id=str(data.get("run_id", "")),
        )


def write_manifest(directory: str | os.PathLike, manifest: Manifest) -> str:
    """Write ``_manifest.json`` into ``directory`` (local or remote); returns its path.

    Producers call it last, after every shard is written: a manifest means a finished dataset. It is written
    to a temporary name first and moved into place (a rename on local disks and HDFS, a copy and delete on
    object stores, where a reader sees either the whole object or none), so a reader never sees half a
    manifest; when the write fails (a full disk), the temporary file is removed and the error raised.
    """
    fs, base = resolve(directory)
    fs.create_dir(base, recursive=True)
    final, partial = join(base, MANIFEST_NAME), join(base, MANIFEST_NAME + ".partial")
    try:
        with fs.open_output_stream(partial) as out:
            out.write(manifest.to_json().encode("utf-8"))
        fs.move(partial, final)
    except BaseException:
        try:
            fs.delete_file(partial)
        except OSError:
            pass  # never created, or the filesystem is gone: the original error is what matters
        raise
    return final


def manifest_file(fs, base: str) -> str | None:
    """The name of the manifest in the directory ``base`` of ``fs`` (``_manifest.json``, or an older folder's
    ``manifest.json``), None when there is none."""
    for name in (MANIFEST, LEGACY_MANIFEST):
        if fs.get_file_info(join(base, name)).type == pafs.FileType.File:
            return name
    return None


def read_manifest(directory: str | os.PathLike) -> Manifest:
    fs, base = resolve(directory)
    path = join(base, manifest_file(fs, base) or MANIFEST)
    try:
        with fs.open_input_stream(path) as stream:
            text = stream.read().decode("utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no manifest; is {directory} a polyspan dataset directory?") from None
    except UnicodeDecodeError as err:
        raise InputDataError(f"{path}: byte {err.object[err.start:err.start + 1]!r} at offset {err.start} is not "
                             "UTF-8: not a manifest written by polyspan") from None
    return Manifest.from_json(text, where=path)


def code_version() -> str:
    """The installed polyspan version, plus the git commit (and '.dirty') when run from a checkout."""
    try:
        version = metadata.version("polyspan")
    except metadata.PackageNotFoundError:
        version = "0+unknown"
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / ".git").exists():
        try:
            sha = subprocess.run(["git", "-C", str(checkout), "rev-parse", "--short=12", "HEAD"],
                                 capture_output=True, text=True, timeout=10, check=True).stdout.strip()
            dirty = subprocess.run(["git", "-C", str(checkout), "status", "--porcelain", "--untracked-files=no"],
                                   capture_output=True, text=True, timeout=10, check=True).stdout.strip()
            version += f"+g{sha}" + (".dirty" if dirty else "")
        except (OSError, subprocess.SubprocessError):
            pass  # no git on this machine: the package version alone still says a lot
    return version


def current_command() -> list[str]:
    """The command line that is running, as a user would retype it (``python -m module args``)."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and spec.name:
        module = spec.name[: -len(".__main__")] if spec.name.endswith(".__main__") else spec.name
        return ["python", "-m", module, *sys.argv[1:]]
    return ["python", *sys.argv]
