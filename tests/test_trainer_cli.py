"""The error handling every trainer command shares (trainer/cli.py): a user error (a ``UserError``, or a missing
path the user gave) is one line and exit 1; a bug - any other exception, ValueError, KeyError and OSError
included - keeps its traceback."""
import logging
from pathlib import Path

import pytest

import trainer.evaluate
import trainer.finetune
import trainer.pretrain
from schemas import DatasetError
from trainer.cli import run_command
from trainer.config import TrainConfig

CONFIGS = Path(__file__).resolve().parent.parent / "configs"

logger = logging.getLogger("test")


def test_a_user_error_prints_one_line_and_exits_1(capsys):
    def body():
        raise DatasetError("/data", ["part-0.parquet: not the mrc schema", "part-1.parquet: empty"])

    assert run_command(body, logger) == 1
    assert capsys.readouterr().err.splitlines() == [
        "error: /data is not a valid polyspan dataset: - part-0.parquet: not the mrc schema - part-1.parquet: empty"]


def test_ctrl_c_exits_130_and_a_bug_keeps_its_traceback(capsys):
    def interrupted():
        raise KeyboardInterrupt

    def buggy():
        raise RuntimeError("a bug, not a user error")

    assert run_command(interrupted, logger) == 130
    assert capsys.readouterr().err.strip() == "interrupted"
    with pytest.raises(RuntimeError):
        run_command(buggy, logger)
    assert run_command(lambda: 0, logger) == 0


def test_a_missing_input_path_is_one_line_naming_it(tmp_path, capsys):
    missing = tmp_path / "nowhere"
    assert trainer.evaluate.main(["--model", str(missing), "--data", f"en={tmp_path / 'test.json'}"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and str(missing) in err[0], err


def test_a_bad_command_line_value_is_one_line(tmp_path, capsys):
    assert trainer.evaluate.main(["--model", str(tmp_path), "--data", "no-language-here"]) == 1
    assert capsys.readouterr().err.splitlines() == ["error: --data takes LANG=PATH, got 'no-language-here'"]


@pytest.mark.parametrize("command, config, bug", [
    (trainer.pretrain, "demo_tiny_wae.yaml", KeyError("total_steps")),
    (trainer.finetune, "demo_tiny_finetune_ner.yaml", ValueError("a bug, not the config")),
])
def test_a_bug_in_a_project_function_keeps_its_traceback(monkeypatch, capsys, command, config, bug):
    """A ValueError or KeyError raised by the trainer's own code is a bug: it leaves the command with its
    traceback, not as an ``error:`` line."""
    def broken_check(self):
        raise bug

    monkeypatch.setattr(TrainConfig, "check", broken_check)
    with pytest.raises(type(bug), match=str(bug.args[0])):
        command.main(["--config", str(CONFIGS / config)])
    assert "error:" not in capsys.readouterr().err


def test_an_os_error_other_than_a_missing_path_keeps_its_traceback(monkeypatch, tmp_path, capsys):
    def unreadable(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(tmp_path / "model"))

    monkeypatch.setattr(trainer.evaluate, "load_finetuned", unreadable)
    with pytest.raises(PermissionError):
        trainer.evaluate.main(["--model", str(tmp_path / "model"), "--data", f"en={tmp_path / 'test.json'}"])
    assert "error:" not in capsys.readouterr().err
