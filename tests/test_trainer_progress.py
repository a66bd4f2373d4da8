"""Long trainer work is never silent: a training run whose stderr is a pipe prints plain progress lines (count,
rate, ETA, loss and lr; no carriage returns) and turns them off on request; evaluation passes report under the
language they score; the line rule (every 10 % but not too close together, at most an interval apart) holds."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from trainer.loop import progress
from trainer_fixtures import write_mrc_dataset, xquad_rows

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def restore_settings():
    saved = (progress._settings.mode, progress._settings.interval_s, progress._settings.enabled)
    yield
    progress.configure(*saved)


def _pretrain(tmp_path: Path, data: Path, *overrides: str) -> subprocess.CompletedProcess:
    out = tmp_path / "run"
    command = [sys.executable, "-m", "trainer.pretrain", "--config", str(REPO / "configs/demo_tiny_wae.yaml"),
               f"output_dir={out}", f"data.train=[{data}]", f"data.eval=[{data}]",
               "model.from_scratch.hidden_size=32", "model.from_scratch.intermediate_size=64",
               "model.from_scratch.num_hidden_layers=1", "model.from_scratch.max_position_embeddings=128",
               "tokenizer.train_vocab_size=300", "data.batch_size=8", "data.max_length=128",
               "data.max_query_length=32", "train.total_steps=10", "train.warmup_steps=1", "train.log_every=2",
               "train.eval_every=5", "train.eval_max_batches=2", "train.checkpoint_every=-1", *overrides]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    env.pop(progress.ENV_VAR, None)
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.fixture(scope="module")
def shards(data_dir, tmp_path_factory):
    rows = xquad_rows(data_dir, "en", limit=40, unanswerable_every=4)
    return write_mrc_dataset(tmp_path_factory.mktemp("mrc") / "en", [rows[:20], rows[20:]])


def test_training_into_a_pipe_prints_plain_lines_with_rate_and_eta(shards, tmp_path):
    # Interval 0: a line at every step, so a run of seconds shows the intermediate lines a long run would.
    stderr = _pretrain(tmp_path, shards, "train.progress_every_s=0").stderr
    assert "\r" not in stderr  # no bar redraws piling up in a log file
    lines = [line for line in stderr.splitlines() if line.startswith("train: ")]
    assert lines[0] == "train: 0/10 step (0%) | starting"  # announced before the first step
    middle = [line for line in lines if line.startswith("train: 4/10 step (40%)")]
    assert len(middle) == 1 and (" step/s" in middle[0] or " s/step" in middle[0]), lines
    assert "ETA " in middle[0] and "ETA ?" not in middle[0]
    assert "| loss " in middle[0] and "| lr " in middle[0]  # the window logged at step 4
    assert lines[-1].startswith("train: 10/10 step (100%)") and "done" in lines[-1]
    # The evaluations of the loss are lines of their own; the train records ride on the progress lines.
    assert sum(line.startswith("eval step ") for line in stderr.splitlines()) == 2
    assert not any(line.startswith("train step ") for line in stderr.splitlines())


def test_progress_off_leaves_only_the_record_lines(shards, tmp_path):
    stderr = _pretrain(tmp_path, shards, "train.progress=off").stderr
    assert not any(line.startswith("train: ") for line in stderr.splitlines())
    assert sum(line.startswith("train step ") for line in stderr.splitlines()) == 5  # every log_every=2 steps


def test_a_bad_progress_mode_is_a_config_error():
    from trainer.config import ConfigError, PretrainConfig, load_config
    with pytest.raises(ConfigError, match="train.progress must be"):
        load_config(REPO / "configs/demo_tiny_wae.yaml", ["train.progress=fancy"], cls=PretrainConfig)


class _Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_lines_come_per_ten_percent_but_not_too_close_and_at_most_an_interval_apart(capsys):
    clock = _Clock()
    shown = progress.Progress(1000, "eval de", "example", mode="lines", interval_s=30, clock=clock)
    for _ in range(100):  # 10 % in 1 s: too soon after the start for a line
        clock.now += 0.01
        shown.update(1)
    assert capsys.readouterr().err == ""
    for _ in range(100):  # the 10 % passed is shown as soon as MIN_GAP_S (5 s) allows, then no more
        clock.now += 0.05
        shown.update(1)
    lines = capsys.readouterr().err.splitlines()
    assert lines == ["eval de: 181/1000 example (18%) | 35.8 example/s | elapsed 0:05 | ETA 0:23"]
    clock.now += 40  # a stall past the interval: the next update prints whatever the fraction
    shown.update(1)
    assert capsys.readouterr().err.startswith("eval de: 201/1000 example (20%)")
    shown.close()
    assert capsys.readouterr().err.endswith("| done\n")


def test_a_short_pass_stays_silent_and_other_ranks_show_nothing(capsys, restore_settings):
    progress.configure(mode="lines", interval_s=30)
    with progress.labelled("eval es"):
        assert [len(c) for c in progress.chunks(list(range(10)), 4)] == [4, 4, 2]
    assert capsys.readouterr().err == ""  # done in well under MIN_GAP_S: no noise
    progress.configure(interval_s=0)
    with progress.labelled("eval es"):
        list(progress.chunks(list(range(10)), 4, "sentence"))
    err = capsys.readouterr().err
    assert err.splitlines()[0].startswith("eval es: 4/10 sentence (40%)") and "\r" not in err
    progress.configure(enabled=False)  # a rank other than 0
    list(progress.chunks(list(range(10)), 4))
    assert capsys.readouterr().err == ""
