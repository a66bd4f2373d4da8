"""The dataset report: Markdown summary and PNG plots of an MRC dataset written by the pipeline, the dispatch on
the manifest's kind, and the reports of an empty dataset and of a missing one."""

import pytest

from pipelines.report import REPORTS, get_report
from pipelines.report.__main__ import main
from pipelines.report.mrc import summarize
from pipelines.wiki_mrc.__main__ import run
from report_fixtures import RUNNER, SAMPLES
from schemas import KINDS, open_dataset, validate_dataset
from schemas.registry import UnknownNameError

SAMPLE = SAMPLES / "enwiki-sample.xml"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "mrc"
    run(["--input", str(SAMPLE), "--lang", "en", "--min-mentions", "5", "--output", str(out), *RUNNER])
    return out


def test_every_dataset_kind_has_a_report():
    assert set(REPORTS) == set(KINDS)
    with pytest.raises(UnknownNameError, match="unknown report kind 'parallel'; choose one of mrc, clism, tagged$"):
        get_report("parallel")


def test_summary_counts_match_the_manifest(dataset):
    summary = summarize(open_dataset(dataset))
    counters = open_dataset(dataset).manifest.counters
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
    assert text.startswith("# MRC dataset report")
    assert "| en |" in text and "page_disambiguation" in text and "Kolmogorov-Smirnov" in text
    assert "empty" not in text and "tiny" not in text  # 128 rows
    for name in ("answer_position", "lengths", "answers_per_example", "examples_per_language", "drop_reasons"):
        png = tmp_path / "r" / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        assert f"]({name}.png)" in text
    # the default location, inside the dataset, does not disturb it
    assert main([str(dataset)]) == 0 and (dataset / "_report" / "report.md").is_file()
    assert validate_dataset(dataset) == []


def test_report_of_an_empty_dataset_says_so_and_removes_stale_plots(tmp_path):
    out = tmp_path / "mrc"
    # no entity of the sample has 1000 mentions: every one is a counted drop, the dataset has no row
    manifest = run(["--input", str(SAMPLE), "--lang", "en", "--min-mentions", "1000", "--output", str(out),
                    "--num-shards", "1", *RUNNER])
    assert manifest.row_count == 0
    stale = out / "_report" / "lengths.png"
    stale.parent.mkdir()
    stale.write_bytes(b"a plot of an earlier run")
    assert main([str(out)]) == 0
    text = (out / "_report" / "report.md").read_text()
    assert "The dataset is empty: 0 rows" in text and "0 examples" in text
    assert "| entity_below_mention_floor |" in text
    assert sorted(p.name for p in (out / "_report").glob("*.png")) == ["drop_reasons.png"]


def test_report_of_a_missing_dataset_is_a_clear_error(tmp_path, capsys):
    assert main([str(tmp_path / "nothing")]) == 1
    assert "no manifest" in capsys.readouterr().err
