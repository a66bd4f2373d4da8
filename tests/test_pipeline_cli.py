"""The command-line layer every pipeline shares (pipelines/cli.py)."""
import argparse

import pytest

from pipelines.cli import parse_args


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pipeline")
    parser.add_argument("--output", required=True)
    return parser


def test_beam_flags_are_kept_apart_from_ours():
    args, options = parse_args(_parser(), ["--output", "out/x", "--runner", "DirectRunner", "--num_workers", "3"])
    assert args.output == "out/x"
    assert options.get_all_options()["num_workers"] == 3


def test_local_output_is_refused_for_dataflow(capsys):
    with pytest.raises(SystemExit):
        parse_args(_parser(), ["--output", "out/x", "--runner", "DataflowRunner"])
    assert "local path" in capsys.readouterr().err


def test_object_store_output_is_accepted_for_dataflow():
    args, _ = parse_args(_parser(), ["--output", "gs://bucket/x", "--runner", "DataflowRunner"])
    assert args.output == "gs://bucket/x"
