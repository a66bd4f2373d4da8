"""The dataset report: Markdown summary and PNG plots of an MRC dataset written by the pipeline."""
from pathlib import Path

import pytest

from pipelines.report import main, summarize
from pipelines.wiki_mrc.__main__ import run
from schemas import validate_dataset

SAMPLE = Path(__file__).resolve().parent.parent / "pipelines" / "samples" / "enwiki-sample.xml"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "mrc"
    run(["--input", str(SAMPLE), "--lang", "en", "--min-mentions", "5", "--output", str(out),
         "--runner", "FnApiRunner"])
    return out


def test_summary_counts_match_the_manifest(dataset):
    summary = summarize(str(dataset))
    counters = summary.counters
    assert summary.rows == counters["examples_answerable"] + counters["examples_unanswerable"]
    assert summary.answerable["en"] == counters["examples_answerable"]
    assert summary.answers_per_example[0] == counters["examples_unanswerable"]
    assert len(summary.answer_positions) == counters["answers"]
    assert all(0 <= p < 1 for p in summary.answer_positions)
    assert summary.dropped["page_disambiguation"] == 1


def test_report_writes_markdown_and_plots(dataset, tmp_path, capsys):
    assert main([str(dataset), "--out", str(tmp_path / "r")]) == 0
    assert "wrote" in capsys.readouterr().out
    text = (tmp_path / "r" / "report.md").read_text()
    assert "| en |" in text and "page_disambiguation" in text and "Kolmogorov-Smirnov" in text
    for name in ("answer_position", "lengths", "answers_per_example", "examples_per_language", "drop_reasons"):
        png = tmp_path / "r" / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        assert f"({name}.png)" in text
    # the default location, inside the dataset, does not disturb it
    assert main([str(dataset)]) == 0 and (dataset / "report" / "report.md").is_file()
    assert validate_dataset(dataset) == []


def test_report_of_a_missing_dataset_is_a_clear_error(tmp_path, capsys):
    assert main([str(tmp_path / "nothing")]) == 1
    assert "no manifest" in capsys.readouterr().err
