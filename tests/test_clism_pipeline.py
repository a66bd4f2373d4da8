"""End-to-end CLISM runs on real parallel data (Tatoeba, the noisy WMT sample, Europarl with gold NER), and the
command line's handling of precomputed links and bad input."""
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipelines.clism.__main__ import main, run
from schemas import validate_dataset
from schemas.conll import read_conll
from schemas.tags import spans_from_tags
from spacy_models import ruler_model_dir

RUNNER = "--runner=FnApiRunner"
TATOEBA = {"ar": "ara", "zh": "cmn", "de": "deu", "fr": "fra", "es": "spa"}
PREPARE_DROPS = ("empty_source", "empty_target", "empty_pair", "source_over_max_words", "target_over_max_words",
                 "source_over_max_chars", "target_over_max_chars", "que_token_in_text", "tokenizer_error")


def head(src: Path, dst: Path, n: int) -> str:
    with open(src, encoding="utf-8") as f:
        dst.write_text("".join(line for _, line in zip(range(n), f)), encoding="utf-8")
    return str(dst)


def read_rows(directory) -> list[dict]:
    return [row for path in sorted(Path(directory).glob("part-*.parquet")) for row in pq.read_table(path).to_pylist()]


def check_rows(rows: list[dict]) -> None:
    """The issue's invariants, row by row, plus: the masked source with each [QUE] put back is the source."""
    for row in rows:
        que = row["que_token"]
        assert row["masked_source"].count(que) == len(row["answers"]) == len(row["source_spans"]) > 0, row["id"]
        for answer in row["answers"]:
            assert answer["text"] and row["target"][answer["start"]:answer["end"]] == answer["text"], row["id"]
        rebuilt, rest = "", row["masked_source"]
        for span in row["source_spans"]:
            before, _, rest = rest.partition(que)
            rebuilt += before + span["text"]
        assert rebuilt + rest == row["source"], row["id"]
    assert len({row["id"] for row in rows}) == len(rows)


def accounted(manifest: dict) -> None:
    """Nothing silently lost: every pair read is a row or a counted drop."""
    counters, dropped = manifest["counters"], manifest["dropped"]
    assert counters["pairs_read"] == counters["pairs_usable"] + sum(dropped.get(r, 0) for r in PREPARE_DROPS)
    assert counters["pairs_usable"] == (manifest["row_count"] + dropped.get("no_source_span", 0)
                                        + dropped.get("no_aligned_span", 0))


@pytest.mark.slow
def test_tatoeba_and_noisy_wmt_in_one_multi_pair_run(data_dir, tmp_path):
    parallel = data_dir / "parallel"
    argv = []
    for lang, code in TATOEBA.items():
        argv += ["--corpus", f"en-{lang}", "lines",
                 head(parallel / f"tatoeba.{code}-eng.eng", tmp_path / f"tatoeba.{code}-eng.eng", 250),
                 head(parallel / f"tatoeba.{code}-eng.{code}", tmp_path / f"tatoeba.{code}-eng.{code}", 250)]
    # The WMT sample: Moses-tokenised, HTML-escaped (&apos;), an empty English line 5; some lines over 40 words.
    argv += ["--corpus", "en-de", "lines", head(parallel / "wmt-sample.en-de.en", tmp_path / "wmt.en", 600),
             head(parallel / "wmt-sample.en-de.de", tmp_path / "wmt.de", 600), "name=wmt"]
    out = tmp_path / "out"
    manifest = run(argv + ["--ner-model", str(ruler_model_dir(data_dir)), "--max-words", "40", "--output", str(out),
                           "--num-shards", "2", RUNNER])
    assert validate_dataset(out) == []
    rows = read_rows(out)
    check_rows(rows)
    assert {(row["src_lang"], row["tgt_lang"]) for row in rows} == {("en", lang) for lang in TATOEBA}
    assert {row["corpus"] for row in rows if row["tgt_lang"] == "de"} == {"tatoeba.deu-eng.eng", "wmt"}
    assert all("&apos;" not in row["source"] and "&quot;" not in row["target"] for row in rows)
    saved = json.loads((out / "_manifest.json").read_text())
    assert saved["row_count"] == len(rows) == manifest.row_count
    assert saved["counters"]["pairs_read"] == 5 * 250 + 600
    assert saved["dropped"]["empty_source"] == 1  # WMT line 5
    assert saved["counters"]["source_lines_html_unescaped"] > 0
    assert saved["dropped"].get("source_over_max_words", 0) + saved["dropped"].get("target_over_max_words", 0) > 0
    for lang in TATOEBA:  # every usable pair, with spans or not, helped estimate its language pair's model
        assert saved["counters"][f"align.en-{lang}.pairs_aligned"] == saved["counters"][f"pairs_usable.en-{lang}"]
    accounted(saved)


def german_gold_spans(path: Path) -> dict[int, set[tuple[int, int]]]:
    """Character spans of the German gold entities in the sentence the tokens spell with single spaces."""
    gold = {}
    for sentence in read_conll(path, tag_scheme=None):
        starts, position = [], 0
        for token in sentence.tokens:
            starts.append(position)
            position += len(token) + 1
        gold[sentence.index] = {(starts[s.start], starts[s.end - 1] + len(sentence.tokens[s.end - 1]))
                                for s in spans_from_tags(sentence.tags)}
    return gold


@pytest.mark.slow
def test_europarl_gold_source_spans_find_the_german_entities(data_dir, tmp_path):
    ner = data_dir / "ner"
    german = tmp_path / "de.txt"
    german.write_text("".join(" ".join(s.tokens) + "\n" for s in read_conll(ner / "de-europarl.test.conll02",
                                                                              tag_scheme=None)), encoding="utf-8")
    out = tmp_path / "out"
    manifest = run(["--source-spans", str(ner / "en-europarl.test.conll02"), "--tgt", str(german),
                    "--src-lang", "en", "--tgt-lang", "de", "--pretokenized", "--output", str(out),
                    "--num-shards", "1", RUNNER])
    assert validate_dataset(out) == []
    rows = read_rows(out)
    check_rows(rows)
    gold = german_gold_spans(ner / "de-europarl.test.conll02")
    answers = [(row["line"], a["start"], a["end"]) for row in rows for a in row["answers"]]
    exact = sum((start, end) in gold[line] for line, start, end in answers) / len(answers)
    print(f"\nEuroparl en→de: {len(rows)} rows, {len(answers)} [QUE] answers, {exact:.3f} exactly a German gold "
          "entity span")
    assert exact >= 0.75
    assert {s["label"] for row in rows for s in row["source_spans"]} <= {"PER", "LOC", "ORG", "MISC"}
    assert manifest.dropped["no_source_span"] > 0  # sentences without entities (footnote 1)
    accounted(json.loads((out / "_manifest.json").read_text()))


def test_precomputed_links_and_clear_errors(tmp_path, capsys):
    conll = tmp_path / "g.conll"
    conll.write_text("Anna B-PER\nlives O\nin O\nNew B-LOC\nYork I-LOC\n\nWe O\nwait O\n\nThe O\nUN B-ORG\n\n",
                     encoding="utf-8")
    tgt = tmp_path / "t.txt"
    tgt.write_text("Anna wohnt in New York\nWir warten\nDie UNO\n", encoding="utf-8")
    links = tmp_path / "links.tsv"
    links.write_text("en-de:g.conll:0\t0-0 1-1 2-2 3-3 4-4\nen-de:g.conll:2\t0-0\n", encoding="utf-8")
    out = tmp_path / "out"
    base = ["--source-spans", str(conll), "--tgt", str(tgt), "--src-lang", "en", "--tgt-lang", "de",
            "--pretokenized", "--num-shards", "1", RUNNER]
    manifest = run(base + ["--links", str(links), "--que-token", "<Q>", "--output", str(out)])
    rows = read_rows(out)
    assert [(row["id"], row["masked_source"], [a["text"] for a in row["answers"]]) for row in rows] == [
        ("en-de:g.conll:0", "<Q> lives in <Q>", ["Anna", "New York"])]
    assert manifest.dropped == {"no_source_span": 1, "no_aligned_span": 1}
    assert manifest.counters["spans_dropped.unaligned"] == 1 and manifest.counters["spans_selected"] == 3
    assert validate_dataset(out) == []

    tgt.write_text("Anna wohnt in New York\n", encoding="utf-8")  # shorter than the CoNLL file
    assert main(base + ["--output", str(tmp_path / "bad")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "g.conll:7: " in err[0] and "has more sentences than" in err[0]
    assert main(["--src", str(tgt), "--tgt", str(tgt), "--src-lang", "en", "--tgt-lang", "de",
                 "--output", str(tmp_path / "bad")]) == 1
    assert "no --ner-model for its source language 'en'" in capsys.readouterr().err
    assert main(base + ["--links", str(tmp_path / "missing.tsv"), "--output", str(tmp_path / "bad")]) == 1
    assert "missing.tsv: no such file" in capsys.readouterr().err


def test_graph_builds_for_a_remote_runner_without_running(tmp_path):
    """build_pipeline only constructs: the graph (every DoFn pickled, gs:// paths untouched) is what a Dataflow,
    Flink or Spark runner would receive."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipelines.clism import ClismConfig, build_pipeline
    from pipelines.clism.parallel_input import CorpusSpec
    config = ClismConfig(corpora=[CorpusSpec("en", "vi", "lines", ("gs://b/c.en", "gs://b/c.vi")),
                                  CorpusSpec("en", "vi", "tsv", ("gs://b/more.tsv",), align_only=True)],
                         output="gs://b/out", ner_models={"en": "en_core_web_sm"})
    # No remote runner is named: constructing one looks for cloud credentials, which hangs offline.
    pipeline = beam.Pipeline(options=PipelineOptions([]))
    build_pipeline(pipeline, config)
    labels = {t.unique_name for t in pipeline.to_runner_api().components.transforms.values()}
    assert {"FindEntities", "AlignPairs", "BuildRows", "Write"} <= labels
    assert config.to_dict()["corpora"][1]["align_only"] is True
    with pytest.raises(ValueError, match="no --ner-model for its source language 'de'"):
        ClismConfig(corpora=[CorpusSpec("de", "en", "lines", ("a", "b"))], ner_models={"en": "m"})
    with pytest.raises(ValueError, match="extra pairs only help align pairs of their own language pair"):
        ClismConfig(corpora=[CorpusSpec("en", "de", "conll", ("a", "b")),
                             CorpusSpec("en", "fr", "lines", ("c", "d"), align_only=True)])
