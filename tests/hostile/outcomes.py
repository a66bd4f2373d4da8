"""What every catalogue case asserts about a run, in one place (no tests here).

A failed run: a non-zero exit status, exactly one ``error: ...`` line naming the file and the position, no
traceback, and no manifest in the output folder (nothing a reader could take for a finished dataset). A run that keeps
going past bad input: the record counted in the manifest (``dropped``) or in a dead-letter file.
"""
from __future__ import annotations

import json
from pathlib import Path

from schemas import MANIFEST_NAME


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error: ")]


def assert_failed_cleanly(status: int, stderr: str, *names: str, output: Path | None = None) -> str:
    """The run failed with one ``error:`` line holding every string of ``names`` (file, position, reason), and
    left no dataset in ``output``. Returns that line."""
    assert status != 0, stderr
    assert "Traceback" not in stderr, stderr
    errors = error_lines(stderr)
    assert len(errors) == 1, stderr
    for name in names:
        assert name in errors[0], (name, errors[0])
    if output is not None:
        assert_no_dataset(output)
    return errors[0]


def assert_no_dataset(output: Path) -> None:
    """No manifest: readers open a dataset through it, so without one a half-written output is never taken for a
    finished dataset (shards written before the failure may stay, e.g. the pages before a dump fault)."""
    output = Path(output)
    assert not (output / MANIFEST_NAME).exists(), f"{output} holds a manifest after a failed run"
    assert not (output / (MANIFEST_NAME + ".partial")).exists(), f"{output} holds half a manifest"


def manifest_of(output: Path) -> dict:
    return json.loads((Path(output) / MANIFEST_NAME).read_text(encoding="utf-8"))
