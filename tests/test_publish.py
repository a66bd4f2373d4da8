"""A dataset is published whole or not at all, on the real runner: a finished dataset is replaced only with
--overwrite and only by a run that succeeds; a failed (--strict) or killed run leaves the folder as it was and
consistent; a second run into a folder another run holds is refused, naming it; a stale claim says how to clear
it; shards and manifest name the same run, so a folder mixed by hand fails validation."""
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipelines.cli import main_wrapper
from pipelines.import_conll.__main__ import run as import_conll
from pipelines.wiki_mrc.__main__ import main as wiki_mrc
from schemas import read_manifest, validate_dataset
from schemas.layout import CLAIM, MANIFEST, RUN_ID_KEY, STAGING_PREFIX

REPO = Path(__file__).resolve().parent.parent
SAMPLE_CONLL = REPO / "pipelines" / "samples" / "en-de-sample.en.conll"
SAMPLE_DUMP = REPO / "pipelines" / "samples" / "enwiki-sample.xml"
RUNNER = ["--runner", "FnApiRunner"]


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name == CLAIM or p.name.startswith(STAGING_PREFIX))


def conll(tmp_path: Path, name: str, words: list[str]) -> Path:
    path = tmp_path / name
    path.write_text("".join(f"{word} S-PER\n\n" for word in words), encoding="utf-8")
    return path


def import_into(out: Path, source: Path, *extra: str) -> int:
    return main_wrapper(import_conll, ["--input", str(source), "--lang", "en", "--output", str(out),
                                       "--num-shards", "1", *RUNNER, *extra])


def test_a_finished_dataset_is_replaced_only_with_overwrite(tmp_path, capsys):
    out = tmp_path / "tagged"
    first, second = conll(tmp_path, "a.conll", ["Anna", "Ben"]), conll(tmp_path, "b.conll", ["Cleo"])
    assert import_into(out, first) == 0
    before = snapshot(out)

    assert import_into(out, second) == 1
    error = capsys.readouterr().err
    assert f"--output {out} already holds a finished tagged dataset (2 rows" in error
    assert "--overwrite" in error and "Traceback" not in error
    assert snapshot(out) == before and leftovers(out) == []

    assert import_into(out, second, "--overwrite") == 0
    assert validate_dataset(out) == []
    manifest = read_manifest(out)
    assert manifest.row_count == 1 and manifest.input_files == [str(second)]
    assert [p.name for p in out.glob("*.parquet")] == ["part-00000-of-00001.parquet"]
    assert leftovers(out) == []


def test_a_failed_first_run_leaves_no_folder(tmp_path, capsys):
    out = tmp_path / "tagged"
    assert import_into(out, conll(tmp_path, "empty.conll", [])) == 1  # a file without a sentence
    assert "no sentence in the file" in capsys.readouterr().err
    assert not out.exists()


def test_manifest_and_shards_name_the_same_run(tmp_path):
    out = tmp_path / "tagged"
    assert import_into(out, SAMPLE_CONLL) == 0
    manifest = json.loads((out / MANIFEST).read_text())
    shard = out / manifest["shards"][0]["file"]
    assert manifest["run_id"] and manifest["shards"][0]["bytes"] == shard.stat().st_size
    assert pq.read_schema(shard).metadata[RUN_ID_KEY].decode() == manifest["run_id"]


def test_a_folder_mixed_by_hand_fails_validation(tmp_path):
    one, other = tmp_path / "one", tmp_path / "other"
    assert import_into(one, conll(tmp_path, "a.conll", ["Anna", "Ben"])) == 0
    assert import_into(other, conll(tmp_path, "b.conll", ["Cleo", "Dora"])) == 0
    name = "part-00000-of-00001.parquet"
    (one / name).write_bytes((other / name).read_bytes())  # same name and row count, another run's rows
    problems = validate_dataset(one)
    run_one, run_other = read_manifest(one).run_id, read_manifest(other).run_id
    assert any(p.startswith(f"{name}: written by run {run_other}, _manifest.json is of run {run_one}")
               for p in problems), problems


def test_a_failed_strict_rerun_leaves_the_finished_dataset(tmp_path, capsys):
    out = tmp_path / "mrc"
    common = ["--lang", "en", "--min-mentions", "5", "--output", str(out), "--num-shards", "1", *RUNNER]
    assert wiki_mrc(["--input", str(SAMPLE_DUMP), *common]) == 0
    before = snapshot(out)
    cut = tmp_path / "cut.xml"
    text = SAMPLE_DUMP.read_text(encoding="utf-8")
    cut.write_text(text[:len(text) * 2 // 3], encoding="utf-8")  # ends mid-page: a dump fault

    assert wiki_mrc(["--input", str(cut), *common, "--seed", "1", "--strict", "--overwrite"]) == 1
    assert "dump fault" in capsys.readouterr().err
    assert snapshot(out) == before and leftovers(out) == []
    assert validate_dataset(out) == [] and read_manifest(out).config["seed"] == 0


def _live_claim(out: Path, holder: subprocess.Popen) -> dict:
    claim = {"run_id": "20260101T000000Z-abcdef", "host": socket.gethostname(), "pid": holder.pid,
             "started": "2026-01-01T00:00:00+00:00"}
    out.mkdir(parents=True, exist_ok=True)
    (out / CLAIM).write_text(json.dumps(claim))
    return claim


def test_a_folder_held_by_a_live_run_is_refused(tmp_path, capsys):
    out = tmp_path / "tagged"
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        _live_claim(out, holder)
        assert import_into(out, SAMPLE_CONLL) == 1
    finally:
        holder.kill()
        holder.wait()
    error = capsys.readouterr().err
    assert (f"--output {out} is being written by run 20260101T000000Z-abcdef (pid {holder.pid} on host "
            f"{socket.gethostname()}") in error
    assert not (out / MANIFEST).exists() and not list(out.glob("*.parquet"))
    assert (out / CLAIM).exists()  # the other run's claim is not this run's to remove


def test_two_runs_at_once_one_is_refused(data_dir, tmp_path):
    # Large enough (CoNLL-2003 train, 3 MB) that the first run still holds the folder when the second starts.
    out = tmp_path / "tagged"
    command = [sys.executable, "-m", "pipelines.import_conll", "--lang", "en", "--output", str(out),
               "--num-shards", "2", "--overwrite", *RUNNER]
    runs = [subprocess.Popen([*command, "--input", str(data_dir / "ner" / "conll2003" / name)], cwd=REPO,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for name in ("eng.train", "eng.testa")]
    results = [(run.wait(timeout=600), *run.communicate()) for run in runs]
    statuses = sorted(status for status, _, _ in results)
    assert statuses == [0, 1], results
    winner = next(i for i, (status, _, _) in enumerate(results) if status == 0)
    loser_error = results[1 - winner][2]
    assert f"--output {out} is being written by run" in loser_error and "pid" in loser_error
    assert "wrote" not in results[1 - winner][1]
    assert validate_dataset(out) == []
    assert read_manifest(out).input_files[0].endswith(("eng.train", "eng.testa")[winner])
    assert leftovers(out) == []


# Runs import_conll as its command does, but the process is killed (SIGKILL) right before publishing: the
# pipeline has finished and its shards are staged.
_KILLED_RUN = """
import os, signal, sys
from pipelines import publish
publish.Publication.publish = lambda self, manifest: os.kill(os.getpid(), signal.SIGKILL)
from pipelines.cli import main_wrapper
from pipelines.import_conll.__main__ import run
sys.exit(main_wrapper(run, sys.argv[1:]))
"""


def test_a_killed_run_leaves_the_dataset_and_its_claim_says_how_to_clear_it(tmp_path, capsys):
    out = tmp_path / "tagged"
    assert import_into(out, conll(tmp_path, "a.conll", ["Anna", "Ben"])) == 0
    before = snapshot(out)
    newer = conll(tmp_path, "b.conll", ["Cleo"])
    killed = subprocess.run([sys.executable, "-c", _KILLED_RUN, "--input", str(newer), "--lang", "en",
                             "--output", str(out), "--num-shards", "1", "--overwrite", *RUNNER], cwd=REPO,
                            capture_output=True, text=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    staged = [p for p in out.iterdir() if p.name.startswith(STAGING_PREFIX)]
    assert len(staged) == 1 and list(staged[0].glob("part-*.parquet"))  # what the killed run wrote
    assert {k: v for k, v in snapshot(out).items() if not k.startswith((STAGING_PREFIX, CLAIM))} == before
    assert validate_dataset(out) == []

    assert import_into(out, newer, "--overwrite") == 1
    error = capsys.readouterr().err
    assert "which is no longer running" in error and f"Remove {out / CLAIM}" in error

    os.remove(out / CLAIM)
    assert import_into(out, newer, "--overwrite") == 0
    assert read_manifest(out).row_count == 1 and validate_dataset(out) == []
    assert leftovers(out) == []  # the dead run's staging folder is gone too


def test_project_labels_claims_every_language_before_it_runs(tmp_path, capsys):
    # One run, one dataset per language: when one language's folder is held, no folder is touched.
    from pipelines.project_labels.__main__ import main as project_labels
    out = tmp_path / "projected"
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        _live_claim(out / "fr", holder)
        translations = str(SAMPLE_CONLL.with_name("en-de-sample.de.txt"))
        status = project_labels(["--source", str(SAMPLE_CONLL), "--src-lang", "en",
                                 "--translations", translations, "--tgt-lang", "de",
                                 "--translations", translations, "--tgt-lang", "fr",
                                 "--output", str(out), *RUNNER])
    finally:
        holder.kill()
        holder.wait()
    assert status == 1
    assert f"--output {out / 'fr'} is being written by run 20260101T000000Z-abcdef" in capsys.readouterr().err
    assert not (out / "de").exists()
