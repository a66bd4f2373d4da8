"""Pipeline steps report progress from the workers: a real pipeline run logs its counting steps' lines, and a
step's lines come at most every EVERY_S seconds, plus one at a bundle's end after a busy stretch."""
import logging

import pytest

from pipelines import progress
from pipelines.import_conll.__main__ import run


@pytest.fixture
def fresh_steps(monkeypatch):
    monkeypatch.setattr(progress, "_steps", {})


def test_a_real_run_logs_progress_lines_of_its_steps(data_dir, tmp_path, monkeypatch, caplog, fresh_steps):
    monkeypatch.setattr(progress, "EVERY_S", 0.0)  # a line per element instead of every 15 s
    caplog.set_level(logging.INFO, logger="pipelines.progress")
    run(["--input", str(data_dir / "ner/conll2002/esp.test*"), "--lang", "es", "--encoding", "latin-1",
         "--output", str(tmp_path / "tagged"), "--num-shards", "1", "--runner", "FnApiRunner"])
    lines = [r.getMessage() for r in caplog.records if r.name == "pipelines.progress"]
    assert any(line.startswith("ReadConllFile: 2 elements in ") and line.endswith("/s)") for line in lines), lines


def test_lines_are_bounded_in_time_and_a_busy_bundle_ends_with_one():
    now = [100.0]
    step = progress.StepProgress("ParsePages", every_s=15, clock=lambda: now[0])
    assert step.add() is None  # the step starts at its first element, not at set-up
    now[0] += 14
    assert step.add() is None
    now[0] += 1
    assert step.add() == "ParsePages: 3 elements in 15 s on this worker (0.2/s)"
    now[0] += 2
    step.add()
    assert step.bundle_finished() is None  # 2 s since the last line: not worth one
    now[0] += 4
    assert step.bundle_finished() == "ParsePages: 4 elements in 21 s on this worker (0.19/s)"
    now[0] += 30
    assert step.bundle_finished() is None  # nothing new since the last line
