"""What a command prints by default and what it loads before it has work to do.

- ``--help`` and a command-line error of a command must not import torch, transformers or Beam (seconds and
  hundreds of MB each): checked exactly, by the modules a fresh interpreter holds after the command returned.
- A default pipeline run's stderr holds the project's progress and summary lines and none of Beam's chatter
  (type-hint notes, the WriteImpl note, two workers' INFO lines, Prism's tracebacks); ``--verbose`` gives the
  chatter back, so the filter, not luck, is what removes it.
"""
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.engines.prism import prism_binary

REPO_ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "transformers", "apache_beam", "spacy")

# Run a command's main as ``python -m`` would, then name the heavy modules it left in sys.modules.
_PROBE = """
import runpy, sys
sys.argv = [sys.argv[1]] + sys.argv[2:]
try:
    runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
except SystemExit:
    pass
print("HEAVY=" + ",".join(m for m in {heavy!r} if m in sys.modules), file=sys.stderr)
"""

# Every command (trainer.evaluate's --task choices come from the task registry, which lists tasks without importing
# them; a pipeline's flags come from its package's config.py, and its Beam graph is imported after parsing).
LIGHT_COMMANDS = ["trainer.pretrain", "trainer.finetune", "trainer.evaluate", "trainer.predict", "pipelines.report",
                  "schemas", "alignment", "pipelines.import_conll", "pipelines.wiki_mrc", "pipelines.clism",
                  "pipelines.project_labels"]


def _heavy_after(argv: list[str]) -> tuple[list[str], str]:
    done = subprocess.run([sys.executable, "-c", _PROBE.format(heavy=HEAVY), *argv], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=300)
    line = next(l for l in done.stderr.splitlines() if l.startswith("HEAVY="))
    return [m for m in line[len("HEAVY="):].split(",") if m], done.stdout + done.stderr


@pytest.mark.parametrize("command", LIGHT_COMMANDS)
def test_help_imports_no_heavy_library(command):
    heavy, output = _heavy_after([command, "--help"])
    assert "usage:" in output
    assert heavy == []


@pytest.mark.parametrize("command", LIGHT_COMMANDS)
def test_argument_error_imports_no_heavy_library(command):
    heavy, output = _heavy_after([command, "--no-such-flag"])
    assert "error:" in output
    assert heavy == []


def test_pipeline_cli_imports_beam_only_when_parsing_succeeds():
    code = ("import sys, argparse; import pipelines.cli as cli; assert 'apache_beam' not in sys.modules\n"
            "p = argparse.ArgumentParser(); p.add_argument('--x')\n"
            "args, options = cli.parse_args(p, ['--x', '1', '--runner', 'FnApiRunner'])\n"
            "assert 'apache_beam' in sys.modules and args.x == '1' and args.verbose is False")
    subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, check=True, timeout=300)


NOISE = ("Converting string literal type hint", "WriteImpl min_shards", "Worker: severity", "Traceback",
         "Really starting service", "semi_persistent_directory", "Unable to fetch remote prism")


def _import_conll(data_dir: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "pipelines.import_conll", "--input", str(data_dir / "ner/conll2003/eng.testa"),
            "--lang", "en", "--output", str(out), "--num-shards", "2", *extra]
    return subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)


def test_default_run_with_two_workers_prints_no_beam_noise(data_dir, tmp_path):
    done = _import_conll(data_dir, tmp_path / "quiet", "--direct_num_workers", "2",
                         "--direct_running_mode", "multi_processing")
    assert done.returncode == 0, done.stderr
    assert "wrote 3250 tagged rows in 2 shard(s); dropped: none" in done.stdout
    assert "INFO pipelines.publish: published 3250 rows" in done.stderr  # the project's own progress stays
    assert [noise for noise in NOISE if noise in done.stderr] == []
    assert all(" pipelines." in line for line in done.stderr.splitlines())

    verbose = _import_conll(data_dir, tmp_path / "verbose", "--direct_num_workers", "2",
                            "--direct_running_mode", "multi_processing", "--verbose")
    assert verbose.returncode == 0, verbose.stderr
    assert "Worker: severity: INFO" in verbose.stderr and " INFO apache_beam." in verbose.stderr


@pytest.mark.skipif(prism_binary() is None, reason="no Prism built (python -m pipelines.engines.prism build)")
def test_prism_worker_failure_is_one_line(data_dir, tmp_path):
    """A DoFn's user error on Prism: Prism, its in-process worker and the portable runner each report the
    worker's traceback as text; by default only the one error line remains."""
    source = data_dir / "ner/conll2002/esp.testa"  # latin-1, read as utf-8
    argv = [sys.executable, "-m", "pipelines.import_conll", "--input", str(source), "--lang", "es",
            "--output", str(tmp_path / "x"), "--runner", "PrismRunner"]
    done = subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 1
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "esp.testa:18" in lines[0], done.stderr


def test_a_run_called_with_argv_leaves_other_loggers_audible(caplog):
    """The quiet filters go on the root logger's handlers; a caller that goes on after the run (a notebook that
    trains next) must still get other libraries' INFO lines."""
    import logging

    from pipelines.cli import main_wrapper

    caplog.set_level(logging.INFO)
    assert main_wrapper(lambda argv: None, ["--runner", "FnApiRunner"]) == 0
    logging.getLogger("trainer.loop.threads").info("still heard")
    assert "still heard" in [record.getMessage() for record in caplog.records]
