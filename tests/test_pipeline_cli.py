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


def test_bundle_based_direct_runner_is_refused_with_the_reason(capsys):
    with pytest.raises(SystemExit):
        parse_args(_parser(), ["--output", "out/x", "--runner", "BundleBasedDirectRunner"])
    assert "loses counters after a Flatten" in capsys.readouterr().err


def _counted_after_a_flatten(runner: str) -> int:
    """A Create of 50 and a Create of 2, flattened, then a ParDo counting its elements: what the runner's
    metrics say it counted."""
    import apache_beam as beam
    from apache_beam.metrics import Metrics
    from apache_beam.metrics.metric import MetricsFilter

    def counted(x):
        Metrics.counter("test", "after_flatten").inc()
        return x

    pipeline = beam.Pipeline(runner=runner)
    big = pipeline | "Big" >> beam.Create(range(50))
    small = pipeline | "Small" >> beam.Create([100, 101])
    _ = (big, small) | beam.Flatten() | beam.Map(counted)
    result = pipeline.run()
    result.wait_until_finish()
    counters = result.metrics().query(MetricsFilter().with_name("after_flatten"))["counters"]
    return sum(c.committed for c in counters)


def test_why_the_bundle_based_runner_is_refused():
    """The refusal's reason, checked on the installed Beam: the accepted local runner counts every element after
    a Flatten, the refused one does not. When this fails because both count 52, Beam fixed its runner and the
    refusal in pipelines/cli.py can go."""
    assert _counted_after_a_flatten("FnApiRunner") == 52
    assert _counted_after_a_flatten("BundleBasedDirectRunner") != 52


# ---- errors: a user's error is one line, a bug keeps its traceback -------------------------------------------

def test_a_malformed_input_file_read_in_a_worker_is_one_line(tmp_path, capsys):
    """A ConllError raised inside the DoFn that reads the file: the runner re-raises it, main_wrapper prints it
    as one line naming the file and line, and exits 1."""
    from pipelines.cli import main_wrapper
    from pipelines.import_conll.__main__ import run

    source = tmp_path / "bad.conll"
    source.write_text("Paris B-LOC\nis O\nnice\textra\tcolumns\tB-MISC\tX\n\n", encoding="utf-8")
    status = main_wrapper(run, ["--input", str(source), "--lang", "en", "--output", str(tmp_path / "out"),
                                "--runner", "FnApiRunner"])
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error: ")]
    assert status == 1 and len(errors) == 1 and f"{source}:" in errors[0], errors


def test_a_missing_input_file_is_one_line_naming_it(tmp_path, capsys):
    from pipelines.cli import main_wrapper
    from pipelines.import_conll.__main__ import run

    missing = tmp_path / "nowhere.conll"
    status = main_wrapper(run, ["--input", str(missing), "--lang", "en", "--output", str(tmp_path / "out"),
                                "--runner", "FnApiRunner"])
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert status == 1 and len(errors) == 1 and str(missing) in errors[0] and "Traceback" not in err, err


def test_a_bug_in_a_worker_keeps_its_traceback(tmp_path, monkeypatch, capsys):
    """A TypeError raised by the project's own code inside a DoFn is a bug: main_wrapper lets it through (with
    its traceback), instead of printing it as a user's error."""
    import pipelines.import_conll.pipeline
    from pipelines.cli import main_wrapper
    from pipelines.import_conll.__main__ import run

    def broken_read_conll(*args, **kwargs):
        raise TypeError("a bug in the reader, not in the file")

    monkeypatch.setattr(pipelines.import_conll.pipeline, "read_conll", broken_read_conll)
    source = tmp_path / "good.conll"
    source.write_text("Paris B-LOC\nis O\n\n", encoding="utf-8")
    with pytest.raises(TypeError, match="a bug in the reader"):
        main_wrapper(run, ["--input", str(source), "--lang", "en",
                           "--output", str(tmp_path / "out"), "--runner", "FnApiRunner"])
    assert "error:" not in capsys.readouterr().err


def test_a_user_error_the_runner_cannot_rebuild_is_found_by_its_class_name(capsys):
    """Beam re-raises a DoFn's exception as the same class when it can build one from its args; a DatasetError
    (two constructor arguments) comes back as a RuntimeError, raised while handling it, whose message is
    'schemas.dataset.DatasetError: message'. It is still one line. A remote runner's error holds only that text:
    the name of a UserError subclass in it is enough; a RuntimeError naming a TypeError is a bug."""
    import apache_beam as beam

    from pipelines.cli import main_wrapper, user_error
    from schemas import DatasetError
    from schemas.conll import ConllError  # noqa: F401 - a subclass is known once its module is imported

    def bad_dataset(_):
        raise DatasetError("/data/mrc", ["part-00000-of-00001.parquet: not the mrc schema"])

    def run(argv):
        with beam.Pipeline(runner="FnApiRunner") as pipeline:
            _ = pipeline | beam.Create([1]) | beam.Map(bad_dataset)

    assert main_wrapper(run, []) == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "/data/mrc is not a valid polyspan dataset" in errors[0], errors
    assert errors[0].endswith("(DatasetError)")
    remote = RuntimeError("Traceback (most recent call last):\n  ...\nschemas.conll.ConllError: a.conll:3: one "
                          "column [while running 'ReadConll']")
    assert user_error(remote) == ("ConllError", "a.conll:3: one column [while running 'ReadConll']")
    assert user_error(RuntimeError("TypeError: 'NoneType' object is not iterable [while running 'X']")) is None
    assert user_error(ValueError("a bug's ValueError")) is None
