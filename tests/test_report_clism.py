"""The report of a clism dataset, built by the CLISM pipeline on real Europarl pairs in two directions (en→de
with English gold spans, de→en with German gold spans), and on a run whose every pair is dropped."""
import json

import pytest

from pipelines.clism.__main__ import run
from pipelines.report.__main__ import main
from pipelines.report.clism import COVERAGE, summarize
from pipelines.report.common import TINY_ROWS
from report_fixtures import RUNNER, SAMPLES, europarl_head
from schemas import open_dataset

SENTENCES = 60


@pytest.fixture(scope="module")
def clism_dir(data_dir, tmp_path_factory):
    work = tmp_path_factory.mktemp("report-clism")
    en_conll, en_text = europarl_head(data_dir, "en", SENTENCES, work)
    de_conll, de_text = europarl_head(data_dir, "de", SENTENCES, work)
    out = work / "clism"
    run(["--corpus", "en-de", "conll", str(en_conll), str(de_text), "--corpus", "de-en", "conll", str(de_conll),
         str(en_text), "--pretokenized", "--output", str(out), "--num-shards", "2", *RUNNER])
    return out


def test_summary_agrees_with_the_manifest_per_language_pair(clism_dir):
    dataset = open_dataset(clism_dir)
    summary = summarize(dataset)
    counters = dataset.manifest.counters
    assert set(summary.pairs) == {"en-de", "de-en"}
    for name, pair in summary.pairs.items():
        assert pair.rows == counters[f"rows.{name}"] > 0
        assert summary.read[name] == SENTENCES
        assert sum(pair.answers_per_row.values()) == pair.rows
        # every answer has one length, one coverage bucket per side and one type
        for per_answer in (pair.span_words, pair.answer_words, pair.answer_coverage, pair.span_coverage,
                           pair.labels):
            assert sum(per_answer.values()) == pair.answers
        assert set(pair.labels) <= {"PER", "LOC", "ORG", "MISC"}
        assert min(pair.span_words) >= 1 and max(pair.span_words) <= 10  # --max-span-words default
        # the answer runs from the first to the last linked target word: at least one word of each side is linked
        assert pair.answer_coverage[COVERAGE[0]] > pair.answer_coverage[COVERAGE[2]]
    assert sum(pair.answers for pair in summary.pairs.values()) == counters["answers"]
    assert summary.rows == dataset.num_rows
    # pairs without a gold span are counted drops, and the report keeps them
    assert summary.dropped["no_source_span"] == 2 * SENTENCES - summary.rows - summary.dropped.get(
        "no_aligned_span", 0)


def test_report_has_a_row_per_language_pair_and_every_plot(clism_dir, tmp_path, capsys):
    assert main([str(clism_dir), "--out", str(tmp_path / "r")]) == 0
    assert "wrote" in capsys.readouterr().out
    text = (tmp_path / "r" / "report.md").read_text()
    assert text.startswith("# CLISM dataset report")
    manifest = json.loads((clism_dir / "_manifest.json").read_text())
    for name in ("en-de", "de-en"):
        line = next(line for line in text.splitlines() if line.startswith(f"| {name} | {SENTENCES} |"))
        assert f"| {manifest['counters'][f'rows.{name}']} |" in line
    assert "| no_source_span |" in text
    assert ("a tiny dataset" in text) == (manifest["row_count"] < TINY_ROWS)
    assert "neither rows nor counted drops" not in text  # every usable pair is a row or a counted drop
    for name in ("pairs_per_language_pair", "answers_per_pair", "span_lengths", "aligned_span_coverage",
                 "drop_reasons"):
        assert (tmp_path / "r" / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        assert f"]({name}.png)" in text


def test_report_of_a_run_that_kept_no_pair_says_so(tmp_path, capsys):
    out = tmp_path / "clism"
    # every sample sentence is longer than 3 words: each pair is a counted drop, the dataset has no row
    manifest = run(["--source-spans", str(SAMPLES / "en-de-sample.en.conll"), "--src-lang", "en",
                    "--tgt", str(SAMPLES / "en-de-sample.de.txt"), "--tgt-lang", "de", "--max-words", "3",
                    "--output", str(out), "--num-shards", "1", *RUNNER])
    assert manifest.row_count == 0
    assert main([str(out)]) == 0
    text = (out / "_report" / "report.md").read_text()
    assert "The dataset is empty: 0 rows" in text
    assert "source_over_max_words" in text and "in 1 language pair." in text
    assert "| en-de | 20 | 0 | 0 | 0 |" in text  # read, usable, rows, answers
    assert sorted(p.name for p in (out / "_report").glob("*.png")) == ["drop_reasons.png",
                                                                      "pairs_per_language_pair.png"]
