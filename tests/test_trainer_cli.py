"""The error handling every trainer command shares (trainer/cli.py)."""
import logging

import pytest

from schemas import DatasetError
from trainer.cli import run_command

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
