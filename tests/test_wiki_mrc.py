"""The Wikipedia MRC pipeline end to end, on a real Beam runner, on the real dumps and the embedded sample.

Each dump is run once per session (module fixtures) and the row checks of the issue are applied to every row.
"""
import bz2
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest
from scipy import stats

from pipelines.tokenize import words
from pipelines.wiki_mrc.__main__ import main, read_faults, run
from pipelines.wiki_mrc.leaks import leaks, row_names
from pipelines.wiki_mrc.title_masking import masking_for
from schemas import open_dataset, validate_dataset
from wiki_fixtures import write_multistream

SAMPLE = Path(__file__).resolve().parent.parent / "pipelines" / "samples" / "enwiki-sample.xml"
RUNNER = ["--runner", "FnApiRunner"]
EN = "wiki/enwiki-pages-articles-shortened.xml.bz2"
VI = "wiki/viwiki-20230501-first-pages.xml.bz2"
BG = "wiki/bgwiki-pages-articles-shortened-utf16.xml.bz2"
TABLES = "wiki/enwiki-table-markup.xml.bz2"

pytestmark = pytest.mark.slow


class Result(NamedTuple):
    manifest: object
    rows: list
    out: Path


def _run(out: Path, inputs, *args) -> Result:
    argv = [a for path in inputs for a in ("--input", str(path))] + ["--output", str(out), *args, *RUNNER]
    manifest = run(argv)
    rows = sorted(open_dataset(out, kind="mrc").iter_rows(), key=lambda r: r["id"])
    return Result(manifest, rows, out)


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory):
    return _run(tmp_path_factory.mktemp("sample") / "mrc", [SAMPLE], "--lang", "en", "--min-mentions", "5",
                "--num-shards", "2")


@pytest.fixture(scope="module")
def english_run(data_dir, tmp_path_factory):
    # A floor of 3 instead of 10: the 106 articles of this excerpt link mostly to pages it does not hold.
    return _run(tmp_path_factory.mktemp("en") / "mrc", [data_dir / EN], "--lang", "en", "--min-mentions", "3")


@pytest.fixture(scope="module")
def vietnamese_run(data_dir, tmp_path_factory):
    return _run(tmp_path_factory.mktemp("vi") / "mrc", [data_dir / VI], "--lang", "vi")  # the paper's floor, 5


def check_rows(rows, lang):
    """The issue's checks of every row."""
    assert rows, "no rows"
    assert len({r["id"] for r in rows}) == len(rows)
    spec = masking_for(lang)
    for r in rows:
        assert r["lang"] == lang
        for a in r["answers"]:
            assert r["context"][a["start"]:a["end"]] == a["text"] == r["anchor_text"]
        # No query names its answer: no word carries the title (or the unqualified title) after normalisation
        # (NFC, case folding), as the language's masking rule defines it, checked word by word (leaks.py).
        assert not leaks(r["query"], row_names(r), spec), (r["id"], r["query"])
        assert "[MASK]" in r["query"]
        if r["mention_index"] < 0:
            assert r["answers"] == [], r["id"]
            assert r["anchor_text"] not in r["context"], r["id"]
            assert r["context_title"] != r["entity"]
        else:
            assert r["answers"], r["id"]
    per_entity = {}
    for r in rows:
        kind = "u" if r["mention_index"] < 0 else "a"
        per_entity[(r["entity"], kind)] = per_entity.get((r["entity"], kind), 0) + 1
    assert max(per_entity.values()) <= 10


def answer_positions(rows):
    return np.array([a["start"] / len(r["context"]) for r in rows for a in r["answers"]])


def test_sample(sample_run, tmp_path):
    manifest, rows, _ = sample_run
    check_rows(rows, "en")
    c = manifest.counters
    assert c["pages_read"] == 24 and c["redirects_read"] == 6 and c["redirects_resolved"] == 6
    assert c["anchors_via_redirect"] > 0  # links to redirects (the chain included) reach their article
    assert manifest.dropped["page_disambiguation"] == 1 and manifest.dropped["page_too_short"] == 1
    assert c["examples_answerable"] + c["examples_unanswerable"] == manifest.row_count == len(rows)
    assert c["entities_kept"] >= 5 and c.get("dump_faults", 0) == 0
    assert {r["source_file"] for r in rows} == {str(SAMPLE)}
    # The leads of "Tarrow River (also the Tarrow)" and "Oda Venn (1741–1809)": their groups are dropped (the
    # default), counted with their words; no query keeps them.
    assert manifest.config["lead_parenthetical"] == "drop"
    assert c["lead_parentheticals.dropped"] >= 2 and c["lead_parenthetical_words.dropped"] >= 4
    assert not any("1741" in r["query"] or "(also the" in r["query"] for r in rows)


def test_english(english_run):
    manifest, rows, out = english_run
    check_rows(rows, "en")
    c, d = manifest.counters, manifest.dropped
    assert c["pages_read"] == 206 and c["redirects_read"] == 99 and c["articles_read"] == 106
    assert c["anchors_found"] == c["anchors_to_titles"] + d["anchor_self_link"]
    assert c["anchors_to_titles"] == (c["anchors_to_kept_entities"] + d["anchor_to_entity_below_floor"]
                                      + sum(v for k, v in d.items() if k.startswith("anchor_to_")
                                            and k != "anchor_to_entity_below_floor"))
    assert c["examples_answerable"] >= 40 and c["examples_unanswerable"] >= 40
    assert validate_dataset(out) == []
    # Plurals (Alkanes, Algorithms) are masked as the title with an ending; every kept article's query is counted.
    assert c["masked_words.exact"] > 0 and c["masked_words.prefix"] > 0
    assert manifest.config["title_masking"] == "word" and manifest.config["answer_position"] == "stochastic"


def test_vietnamese(vietnamese_run):
    manifest, rows, out = vietnamese_run
    check_rows(rows, "vi")
    assert manifest.config["min_mentions"] == 5
    assert manifest.counters["pages_read"] == 970 and manifest.dropped["page_not_main_namespace"] == 610
    assert manifest.counters["examples_answerable"] > 500
    assert validate_dataset(out) == []
    assert manifest.counters["masked_words.exact"] > 200 and manifest.config["title_masking"] == "word"


def test_answer_positions_cover_the_context_evenly(english_run, vietnamese_run):
    # Stochastic answer position (paper 001 §2.2): ξ ~ U{0..C} puts the answer anywhere in the context. The
    # rows are fixed (fixed data, seed 0), so the p-values are too: the thresholds are far below what a uniform
    # sample gives (KS p ≈ 0.7 here), and far above what the middle-of-the-context layout gives (p ≈ 0).
    positions = np.concatenate([answer_positions(english_run[1]), answer_positions(vietnamese_run[1])])
    assert len(positions) > 1000
    assert stats.kstest(positions, "uniform").pvalue > 1e-3
    histogram, _ = np.histogram(positions, bins=10, range=(0, 1))
    assert stats.chisquare(histogram).pvalue > 1e-3
    centred = np.clip(0.5 + (positions - 0.5) * 0.2, 0, 1)  # what C/2 words on each side would look like
    assert stats.kstest(centred, "uniform").pvalue < 1e-6


def test_centred_answer_position_puts_c_half_words_before_every_answer(sample_run, tmp_path):
    # The ablation of paper 001's Table 2: C/2 words on each side of the anchor instead of ξ ~ U{0..C}. The
    # same entities and mentions are sampled; only the contexts move.
    manifest, rows, _ = _run(tmp_path / "mrc", [SAMPLE], "--lang", "en", "--min-mentions", "5", "--context-words",
                             "40", "--answer-position", "centre")
    assert manifest.config["answer_position"] == "centre"
    answerable = [r for r in rows if r["mention_index"] >= 0]
    assert {r["id"] for r in rows} == {r["id"] for r in sample_run.rows}
    before = [len(words(r["context"][:r["answers"][0]["start"]], "en")) for r in answerable
              if r["answers"][0]["text"] == r["anchor_text"]]
    # The anchor's own occurrence is the first answer unless the same text comes earlier in the context.
    assert max(before) <= 20 and sum(b == 20 for b in before) > 0.6 * len(answerable)
    stochastic = [len(words(r["context"][:r["answers"][0]["start"]], "en")) for r in sample_run.rows
                  if r["mention_index"] >= 0]
    assert len(set(stochastic)) > 10  # the default spreads them


def test_two_workers_and_a_multistream_copy_give_the_same_rows(english_run, data_dir, tmp_path):
    # The same pages re-packed as a multistream dump with index (one work unit per bz2 stream), read by two
    # workers: every row must be identical but for the file it names. Worker processes, not threads: Beam's
    # in-process runner with two thread workers corrupts shuffled bytes now and then (a bare Create-GroupByKey
    # pipeline too, 1 run in 6 here), and decoding the garbage grew one run to 24 GB before the OOM killer.
    dump, _ = write_multistream(str(data_dir / EN), str(tmp_path / "enwiki-multistream.xml.bz2"),
                                pages_per_stream=20)
    manifest, rows, _ = _run(tmp_path / "mrc", [dump], "--lang", "en", "--min-mentions", "3",
                          "--direct_num_workers=2", "--direct_running_mode=multi_processing")
    assert manifest.counters["dump_units_read"] > 5

    def strip(rs):
        return [{k: v for k, v in r.items() if k != "source_file"} for r in rs]

    assert strip(rows) == strip(english_run[1])
    assert manifest.counters == english_run[0].counters | {"dump_units_read": manifest.counters["dump_units_read"]}


def test_table_markup_without_siteinfo(data_dir, tmp_path):
    manifest, rows, _ = _run(tmp_path / "mrc", [data_dir / TABLES], "--lang", "en", "--min-mentions", "1")
    assert manifest.counters["pages_read"] == 5 and manifest.counters["articles_kept"] == 5
    assert manifest.counters["wikitext.tables"] > 0
    # Its few links all point outside the excerpt: counted, not lost.
    assert manifest.dropped["anchor_to_missing_page"] == manifest.counters["anchors_to_titles"] > 0
    assert rows == [] and validate_dataset(tmp_path / "mrc") == []


def test_bulgarian_utf16_needs_an_explicit_tokenizer(data_dir, tmp_path, capsys):
    assert main(["--input", str(data_dir / BG), "--lang", "bg", "--output", str(tmp_path / "x"), *RUNNER]) == 1
    assert "no word tokenizer for 'bg'" in capsys.readouterr().err
    manifest, rows, _ = _run(tmp_path / "mrc", [data_dir / BG], "--lang", "bg", "--tokenizer-lang", "ru",
                          "--min-mentions", "1")
    assert manifest.counters["pages_read"] == 3 and manifest.counters["articles_kept"] == 1
    assert manifest.counters["anchors_found"] > 50 and manifest.config["tokenizer_lang"] == "ru"
    check = manifest.dropped.get("anchor_to_missing_page", 0) + manifest.counters.get("anchors_to_kept_entities", 0)
    assert check == manifest.counters["anchors_to_titles"]


@pytest.mark.parametrize("damage", ["cut_mid_page", "invalid_bytes"])
def test_broken_dump_keeps_pages_and_reports_the_fault(damage, tmp_path, capsys):
    data = SAMPLE.read_bytes()
    if damage == "cut_mid_page":
        cut = data.index(b"<title>Tarrow Valley Railway</title>") + 400
        path = tmp_path / "enwiki-broken.xml.bz2"
        path.write_bytes(bz2.compress(data[:cut]))
        expected = ["enwiki-broken.xml.bz2: line", "the XML ends inside <mediawiki/page/revision/text> of page "
                    "'Tarrow Valley Railway': the dump is truncated; 10 pages read before it"]
    else:
        at = data.index(b"is a market town")
        path = tmp_path / "enwiki-broken.xml"
        path.write_bytes(data[:at] + b"\xff\xfe" + data[at:])
        expected = ["enwiki-broken.xml: line 101, column 16", "malformed XML: not well-formed (invalid token); "
                    "2 pages read before it"]
    out = tmp_path / "mrc"
    assert main(["--input", str(path), "--lang", "en", "--min-mentions", "2", "--output", str(out), *RUNNER]) == 0
    err = capsys.readouterr().err
    assert "warning: 1 dump fault(s)" in err and all(e in err for e in expected), err
    assert "Traceback" not in err
    faults = read_faults(str(out))
    assert len(faults) == 1 and all(e in faults[0] for e in expected)
    assert validate_dataset(out) == []
    assert open_dataset(out).manifest.counters["dump_faults"] == 1
    # --strict: the same run fails, still naming file and position
    strict_out = tmp_path / "strict"
    assert main(["--input", str(path), "--lang", "en", "--output", str(strict_out), "--strict", *RUNNER]) == 1
    assert expected[1].split(";")[0] in capsys.readouterr().err
