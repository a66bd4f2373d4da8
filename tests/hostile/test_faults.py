"""Catalogue: faults of the machine rather than the input. The output disk fills up (a small tmpfs mounted for
the test: root only; skipped with a message elsewhere, a failure under CI=true): the pipeline fails with one
line naming its output and leaves no manifest; ``manifest.json`` is written last, and atomically, so no reader
takes a half-written dataset for a finished one. (SIGKILL mid-training and mid-checkpoint, then an exact resume:
tests/test_trainer_checkpoint.py, listed in the catalogue.)"""
import os
import subprocess

import pytest

from pipelines.cli import main_wrapper
from pipelines.import_conll.__main__ import run as import_conll
from schemas import MANIFEST_NAME, Manifest, write_manifest
from hostile.outcomes import assert_failed_cleanly, assert_no_dataset

RUNNER = ["--runner", "FnApiRunner"]
SPANISH = "ner/conll2002/esp.train"  # Latin-1


@pytest.fixture
def small_disk(tmp_path):
    """A 256 KB tmpfs: far less than the shards of 3 MB of CoNLL need."""
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount_point)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        message = (f"the disk-full cases need to mount a tmpfs, which this user may not "
                   f"({mounted.stderr.strip() or 'mount failed'}); CI runs them as root")
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def _spanish(data_dir, tmp_path, size: int):
    path = tmp_path / "esp.train"
    with open(data_dir / SPANISH, "rb") as handle:
        data = handle.read(size)
    path.write_bytes(data[:data.rindex(b"\n\n") + 2])  # whole sentences only
    return path


def test_output_disk_full(data_dir, tmp_path, small_disk, capsys):
    source = _spanish(data_dir, tmp_path, 3_000_000)
    out = small_disk / "tagged-es"
    status = main_wrapper(import_conll, ["--input", str(source), "--lang", "es", "--encoding", "latin-1",
                                         "--output", str(out), *RUNNER])
    assert_failed_cleanly(status, capsys.readouterr().err, "No space left on device", f"--output {out}",
                          output=out)


def test_manifest_on_a_full_disk_leaves_none(small_disk):
    # The shards fitted, the manifest does not: no manifest.json, and no half-written one either.
    filler = os.open(small_disk / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        while os.write(filler, b"\0" * 4096):
            pass
    except OSError:
        pass  # full
    finally:
        os.close(filler)
    manifest = Manifest(kind="tagged", schema_version=1, command=["test"], config={"note": "x" * 20_000},
                        code_version="test", input_files=[], shards=[])
    with pytest.raises(OSError, match="No space left on device"):
        write_manifest(small_disk, manifest)
    assert_no_dataset(small_disk)


def test_manifest_is_written_last(data_dir, tmp_path, capsys):
    source = _spanish(data_dir, tmp_path, 200_000)
    out = tmp_path / "tagged-es"
    assert main_wrapper(import_conll, ["--input", str(source), "--lang", "es", "--encoding", "latin-1",
                                       "--output", str(out), "--num-shards", "2", *RUNNER]) == 0
    shards = list(out.glob("part-*.parquet"))
    assert len(shards) == 2
    assert (out / MANIFEST_NAME).stat().st_mtime_ns >= max(shard.stat().st_mtime_ns for shard in shards)
    assert not (out / (MANIFEST_NAME + ".partial")).exists()
