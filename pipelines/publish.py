"""Publishing a dataset whole or not at all, on local disks and object stores alike.

A run first *claims* its output folder (``_claim.json``: run id, host, pid, start time), then its writers write
into ``<output>/_staging-<run id>/`` (``WriteShards`` and the other writers ask ``staging_path``). Only when the
pipeline has succeeded does ``Publication.publish`` put the dataset in place: the old manifest goes first (from
then on the folder is no finished dataset, never a mixed one), then the old dataset's files, then the staged
files are moved in, the card is written and the manifest last. A run that fails or is killed before that leaves
the folder as it was; what it staged is removed (or, when it was killed, by the next run that claims the folder).

Object stores have no atomic rename of a folder and no exclusive create through pyarrow, so the claim is
written, read back, and read again before publishing: of two runs that raced for a claim, the one whose claim
was overwritten refuses to publish. On a local disk the claim is created exclusively (``O_EXCL``).

A second run into an output that a live run holds is refused with a message naming that run; a claim whose
process is gone (a dead pid on this host) is reported with how to clear it; a finished dataset is only
replaced with ``--overwrite`` (and even then only once the new run has succeeded).
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import json
import logging
import os
import secrets
import socket
from typing import Iterator

import pyarrow.fs as pafs

from schemas.card import write_card
from schemas.errors import UserError
from schemas.layout import (CARD, CLAIM, HF_YAML, LEGACY_MANIFEST, LEGACY_REPORT_DIR, MANIFEST, STAGING_PREFIX,
                            skipped_by_readers)
from schemas.manifest import Manifest, manifest_file, read_manifest, write_manifest
from schemas.storage import join, resolve

_log = logging.getLogger(__name__)

# Files an older layout kept in a dataset folder (replaced with the dataset when it is overwritten).
_LEGACY_FILES = {LEGACY_MANIFEST, "dump_faults.txt", LEGACY_REPORT_DIR}


class OutputClaimedError(UserError):
    """The output folder is being written by another run, or a killed run's claim is still there."""


class OutputExistsError(UserError):
    """The output folder holds a finished dataset and ``--overwrite`` was not given."""


def add_overwrite_argument(parser) -> None:
    parser.add_argument("--overwrite", action="store_true",
                        help="replace a finished dataset in --output (it stays as it was if this run fails)")


def new_run_id() -> str:
    """A run id that sorts by start time: 20261207T222355Z-3fa9c1."""
    return f"{_dt.datetime.now(_dt.timezone.utc):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def _process_start(pid: int) -> str | None:
    """The start time of a process on this machine (Linux: clock ticks since boot), telling a live run from a
    later process that reuses its pid; None where /proc is not there."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as handle:
            return handle.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _alive(claim: dict) -> bool | None:
    """Whether the claiming process still runs: None when it ran on another host (it cannot be told here)."""
    if claim.get("host") != socket.gethostname():
        return None
    pid = int(claim.get("pid", 0))
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's process with that pid: alive, though maybe not the run
    started = claim.get("process_start")
    return not (started and _process_start(pid) not in (None, started))


def _describe(claim: dict) -> str:
    return (f"run {claim.get('run_id', '?')} (pid {claim.get('pid', '?')} on host {claim.get('host', '?')}, "
            f"started {claim.get('started', '?')})")


class Publication:
    """The claim of one output folder by one run, its staging folder, and the step that publishes it."""

    def __init__(self, output: str, run_id: str, overwrite: bool = False):
        self.output = output
        self.run_id = run_id
        self.overwrite = overwrite
        self.fs, self.base = resolve(output)
        self.staging = join(output.rstrip("/"), STAGING_PREFIX + run_id)  # as writers name it (URI or path)
        self.staging_base = join(self.base, STAGING_PREFIX + run_id)  # the same inside self.fs
        self.claim_path = join(self.base, CLAIM)
        self.claimed = False
        self.published = False
        self.created = False  # whether claim() made the output folder (a failed run then removes it again)

    # -- claiming ------------------------------------------------------------------------------------------
    def claim(self) -> None:
        """Refuse when the folder holds a finished dataset (without ``overwrite``) or another run's claim; else
        claim it and remove what killed runs staged there."""
        self.created = self.fs.get_file_info(self.base).type == pafs.FileType.NotFound
        self.fs.create_dir(self.base, recursive=True)
        holder = self._read_claim()
        if holder is not None:
            self._refuse(holder)
        self._check_existing()
        record = {"run_id": self.run_id, "host": socket.gethostname(), "pid": os.getpid(),
                  "process_start": _process_start(os.getpid()),
                  "started": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
        if not self._create_claim(json.dumps(record, indent=1) + "\n"):
            self._refuse(self._read_claim() or {})
        self.claimed = True
        self._remove_stale_staging()

    def _refuse(self, holder: dict) -> None:
        alive = _alive(holder)
        claim = join(self.output.rstrip("/"), CLAIM)  # as the user names the output (a URI on object stores)
        if alive is False:
            raise OutputClaimedError(
                f"--output {self.output} is claimed by {_describe(holder)}, which is no longer running (killed or "
                f"crashed): the dataset there is as that run found it, or has no manifest if it was killed while "
                f"publishing. Remove {claim} and run again (the dead run's staged files are removed then)")
        where = "" if alive else f"; if that run is gone (it ran on another host), remove {claim} and run again"
        raise OutputClaimedError(f"--output {self.output} is being written by {_describe(holder)}: wait for it, "
                                 f"or write to another --output{where}")

    def _check_existing(self) -> None:
        if self.overwrite:
            return
        name = manifest_file(self.fs, self.base)
        if name is not None:
            try:
                manifest = read_manifest(self.output)
                what = (f"a finished {manifest.kind} dataset ({manifest.row_count} rows, made "
                        f"{manifest.created_at})")
            except (OSError, ValueError):
                what = f"a dataset ({name})"
            raise OutputExistsError(f"--output {self.output} already holds {what}: pass --overwrite to "
                                    "replace it, or choose another --output")
        if any(info.base_name.endswith(".parquet") for info in self._listing()):
            raise OutputExistsError(f"--output {self.output} holds Parquet files but no manifest (an unfinished "
                                    "dataset): pass --overwrite to replace them, or choose another --output")

    def _create_claim(self, text: str) -> bool:
        if isinstance(self.fs, pafs.LocalFileSystem):
            try:
                fd = os.open(self.claim_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                return False
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            return True
        with self.fs.open_output_stream(self.claim_path) as out:
            out.write(text.encode("utf-8"))
        return self._holds_claim()

    def _read_claim(self) -> dict | None:
        try:
            with self.fs.open_input_stream(self.claim_path) as stream:
                text = stream.read().decode("utf-8")
        except FileNotFoundError:
            return None
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return {"run_id": "(unreadable claim)"}

    def _holds_claim(self) -> bool:
        return (self._read_claim() or {}).get("run_id") == self.run_id

    def _listing(self) -> list[pafs.FileInfo]:
        return self.fs.get_file_info(pafs.FileSelector(self.base, allow_not_found=True))

    def _remove_stale_staging(self) -> None:
        """Staging folders of runs that were killed: their claim was cleared, so nothing writes there."""
        own = STAGING_PREFIX + self.run_id
        for info in self._listing():
            if info.base_name.startswith(STAGING_PREFIX) and info.base_name != own:
                _log.info("removing %s, staged by a run that did not finish", info.path)
                self.fs.delete_dir(info.path)

    # -- publishing ----------------------------------------------------------------------------------------
    def publish(self, manifest: Manifest) -> Manifest:
        """Put the staged dataset in place; ``manifest`` is the one made from the staged shards."""
        if not self._holds_claim():
            raise OutputClaimedError(f"--output {self.output}: this run's claim was taken by "
                                     f"{_describe(self._read_claim() or {})} while it ran; nothing was published")
        staging_base = self.staging_base
        manifest.run_id = self.run_id
        staged = [info for info in self.fs.get_file_info(pafs.FileSelector(staging_base, recursive=True))
                  if info.type == pafs.FileType.File and info.base_name != MANIFEST]
        # The manifest first: while the old files go and the new ones arrive, the folder is no dataset at all.
        for name in (MANIFEST, LEGACY_MANIFEST):
            self._delete(join(self.base, name))
        for info in self._listing():
            if self._belongs_to_dataset(info.base_name):
                self._delete(info.path, info.type)
        for info in staged:
            relative = info.path[len(staging_base.rstrip("/")) + 1:]
            if relative.startswith("beam-temp-"):
                continue  # a writer's temporary files: Beam removes them on success, a failure leaves them
            target = join(self.base, relative)
            if "/" in relative:
                self.fs.create_dir(target.rsplit("/", 1)[0], recursive=True)
            self.fs.move(info.path, target)
        write_card(self.output, manifest)
        write_manifest(self.output, manifest)
        self.published = True
        _log.info("published %d rows in %d shard(s) to %s (run %s)", manifest.row_count, len(manifest.shards),
                  self.output, self.run_id)
        return manifest

    def _belongs_to_dataset(self, name: str) -> bool:
        """A file of the dataset being replaced: shards, card, report and the older layout's names; not the
        claim or staging folders, nor files a user put there."""
        if name == CLAIM or name.startswith(STAGING_PREFIX):
            return False
        return name.endswith(".parquet") or name in _LEGACY_FILES or name in (CARD, HF_YAML) or \
            skipped_by_readers(name) and name.startswith("_")

    def _delete(self, path: str, type_: pafs.FileType | None = None) -> None:
        type_ = type_ if type_ is not None else self.fs.get_file_info(path).type
        if type_ == pafs.FileType.Directory:
            self.fs.delete_dir(path)
        elif type_ == pafs.FileType.File:
            self.fs.delete_file(path)

    def release(self) -> None:
        """Remove the staging folder and, when this run holds it, the claim (after success and failure alike)."""
        if self.fs.get_file_info(self.staging_base).type == pafs.FileType.Directory:
            self.fs.delete_dir(self.staging_base)
        if self.claimed and self._holds_claim():
            self.fs.delete_file(self.claim_path)
        self.claimed = False
        if self.created and not self.published and not self._listing():
            self.fs.delete_dir(self.base)  # the folder this run made for a dataset it did not publish


# Output folder (as resolved) -> the publication of this process that holds it: what WriteShards asks.
_ACTIVE: dict[tuple[str, str], Publication] = {}


def _key(directory: str) -> tuple[str, str]:
    fs, base = resolve(directory)
    return type(fs).__name__, base.rstrip("/")


def staging_path(directory: str) -> str:
    """Where a writer of ``directory`` writes: the staging folder of the run that claimed it in this process,
    else ``directory`` itself (a graph built without publishing, as tests do)."""
    publication = _ACTIVE.get(_key(directory))
    return directory if publication is None else publication.staging


def run_id_of(directory: str) -> str | None:
    """The run id of the publication that holds ``directory`` in this process, if any."""
    publication = _ACTIVE.get(_key(directory))
    return None if publication is None else publication.run_id


@contextlib.contextmanager
def publishing(outputs: list[str], overwrite: bool = False) -> Iterator[dict[str, Publication]]:
    """Claim every output folder of one run (refusing before any is claimed when one cannot be), and release
    them all at the end: a folder whose publication did not ``publish`` is left as it was found."""
    run_id = new_run_id()
    publications: dict[str, Publication] = {}
    try:
        for output in outputs:
            publication = Publication(output, run_id, overwrite)
            publication.claim()
            publications[output] = publication
            _ACTIVE[_key(output)] = publication
        yield publications
    finally:
        for output, publication in publications.items():
            _ACTIVE.pop(_key(output), None)
            try:
                publication.release()
            except OSError as err:  # the run's own error, if any, is what the user must see
                _log.warning("could not clean up %s: %s", publication.staging, err)
