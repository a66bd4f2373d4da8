"""The report of a tagged dataset: gold Europarl English through pipelines.import_conll, English tags projected
onto the German side by pipelines.project_labels (with its projection losses), CoNLL-2003 English against its
published statistics, and a projection whose every translation is empty."""
from collections import Counter

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.import_conll.__main__ import run as import_conll
from pipelines.project_labels.__main__ import run as project_labels
from pipelines.report.__main__ import main
from pipelines.report.tagged import SENTENCE_OUTCOMES, summarize
from report_fixtures import RUNNER, SAMPLES, europarl_head
from schemas import KINDS, Manifest, ShardInfo, open_dataset, validate_dataset, write_manifest
from schemas.conll import read_conll
from schemas.tags import spans_from_tags

SENTENCES = 80


@pytest.fixture(scope="module")
def europarl(data_dir, tmp_path_factory):
    work = tmp_path_factory.mktemp("report-tagged")
    en_conll, _ = europarl_head(data_dir, "en", SENTENCES, work)
    _, de_text = europarl_head(data_dir, "de", SENTENCES, work)
    import_conll(["--input", str(en_conll), "--lang", "en", "--output", str(work / "gold-en"), "--num-shards", "2",
                  *RUNNER])
    project_labels(["--source", str(en_conll), "--src-lang", "en", "--translations", str(de_text), "--tgt-lang", "de",
                    "--pretokenized", "--output", str(work / "projected"), *RUNNER])
    return {"conll": en_conll, "gold": work / "gold-en", "projected": work / "projected" / "de"}


def test_gold_entity_counts_are_those_of_the_conll_file(europarl):
    expected = Counter(span.label for sentence in read_conll(europarl["conll"], tag_scheme=None)
                       for span in spans_from_tags(sentence.tags))
    summary = summarize(open_dataset(europarl["gold"]))
    assert summary.total_rows == SENTENCES and summary.gold_rows == SENTENCES and not summary.projection
    assert {label: n for (lang, label), n in summary.entities.items() if lang == "en"} == expected
    assert sum(summary.entities_per_sentence.values()) == SENTENCES
    assert sum(n * k for n, k in summary.sentence_tokens.items()) == summary.tokens


def test_projection_losses_add_up_to_the_manifest(europarl):
    dataset = open_dataset(europarl["projected"])
    summary, manifest = summarize(dataset), dataset.manifest
    (lang, projection), = summary.projection.items()
    assert lang == "de" and summary.gold_rows == 0
    assert projection.source_spans == manifest.counters["source_spans"]
    assert projection.projected == manifest.counters["spans_projected"] == sum(summary.entities.values())
    assert projection.lost_unaligned == manifest.dropped.get("span_unaligned", 0)
    assert projection.lost_conflict == manifest.dropped.get("span_conflict", 0)
    assert projection.projected + projection.lost_unaligned + projection.lost_conflict == projection.source_spans
    assert sum(projection.sentences[o] for o in SENTENCE_OUTCOMES) == SENTENCES
    assert projection.sentences["no source span"] > 0  # Europarl has sentences without entities


def test_reports_of_gold_and_projected_data(europarl, tmp_path):
    assert main([str(europarl["gold"]), "--out", str(tmp_path / "gold")]) == 0
    gold = (tmp_path / "gold" / "report.md").read_text()
    assert gold.startswith("# Tagged dataset report") and "gold tags, BIOES scheme" in gold
    assert "## Projection" not in gold and not (tmp_path / "gold" / "projection.png").exists()
    assert main([str(europarl["projected"]), "--out", str(tmp_path / "de")]) == 0
    projected = (tmp_path / "de" / "report.md").read_text()
    assert "## Projection" in projected and "| lost_unaligned | lost_conflict |" in projected
    for name in ("entities_per_type", "projection", "lengths", "entities_per_sentence"):
        assert (tmp_path / "de" / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        assert f"]({name}.png)" in projected


def test_report_of_an_empty_dataset_says_so(tmp_path):
    # Every translation line of the sample is empty: each sentence is a counted drop, the dataset has no row.
    empty = tmp_path / "de.txt"
    empty.write_text("\n" * 20)
    manifest = project_labels(["--source", str(SAMPLES / "en-de-sample.en.conll"), "--src-lang", "en",
                               "--translations", str(empty), "--tgt-lang", "de", "--output", str(tmp_path / "out"),
                               *RUNNER])
    assert manifest.row_count == 0
    assert main([str(tmp_path / "out" / "de")]) == 0
    report = tmp_path / "out" / "de" / "_report"
    text = (report / "report.md").read_text()
    assert "The dataset is empty: 0 rows" in text and "| empty_translation | 20 |" in text
    assert [p.name for p in report.glob("*.png")] == ["drop_reasons.png"]


def test_a_dataset_of_two_languages_gold_and_projected(europarl, tmp_path):
    # The pipelines write one language per dataset; a user may merge them (here with the schema's own writer).
    kind = KINDS["tagged"]
    rows = [row for name in ("gold", "projected") for row in open_dataset(europarl[name]).iter_rows()]
    merged = tmp_path / "merged"
    merged.mkdir()
    pq.write_table(pa.Table.from_pylist(rows, schema=kind.schema_with_metadata()),
                   merged / "part-00000-of-00001.parquet")
    write_manifest(merged, Manifest(kind="tagged", schema_version=kind.version, command=["merge"], config={},
                                    code_version="test", input_files=[str(europarl["gold"]),
                                                                      str(europarl["projected"])],
                                    shards=[ShardInfo("part-00000-of-00001.parquet", len(rows))]))
    assert validate_dataset(merged) == []
    summary = summarize(open_dataset(merged))
    assert summary.rows == {"en": SENTENCES, "de": SENTENCES} and summary.gold_rows == SENTENCES
    assert main([str(merged)]) == 0
    text = (merged / "_report" / "report.md").read_text()
    assert f"{SENTENCES} projected, {SENTENCES} gold" in text
    assert f"| de | {SENTENCES} |" in text and f"| en | {SENTENCES} |" in text
    assert (merged / "_report" / "entities_per_type.png").is_file()


def test_conll2003_english_train_matches_its_published_statistics(data_dir, tmp_path):
    # Tjong Kim Sang & De Meulder (2003), Table 2, English training data: 14,987 sentences, counting one
    # -DOCSTART- line per article (946 articles), 203,621 tokens, LOC 7,140, MISC 3,438, ORG 6,321, PER 6,600.
    out = tmp_path / "conll2003"
    import_conll(["--input", str(data_dir / "ner" / "conll2003" / "eng.train"), "--lang", "en", "--output",
                  str(out), "--num-shards", "1", *RUNNER])
    summary = summarize(open_dataset(out))
    assert summary.total_rows == 14_987 - 946
    assert summary.tokens == 203_621
    assert {label: n for (_, label), n in summary.entities.items()} == {
        "LOC": 7_140, "MISC": 3_438, "ORG": 6_321, "PER": 6_600}
    assert main([str(out)]) == 0
    assert "| en | 14041 | 7140 | 3438 | 6321 | 6600 | 23499 |" in (out / "_report" / "report.md").read_text()


def test_reading_a_dataset_reports_progress(europarl, monkeypatch, capsys):
    from pipelines.report import common
    monkeypatch.setattr(common, "PROGRESS_SECONDS", 0.0)  # a line after every batch instead of every 15 s
    summarize(open_dataset(europarl["gold"]))
    assert f"report: {SENTENCES} of {SENTENCES} rows read" in capsys.readouterr().err
