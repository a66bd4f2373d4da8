"""The CoNLL import pipeline on a real Beam runner and real CoNLL files."""

from pipelines.cli import main_wrapper
from pipelines.import_conll.__main__ import run
from schemas import open_dataset, validate_dataset
from schemas.conll import read_conll
from schemas.tags import spans_from_tags


def test_imports_conll2003_iob1_as_valid_bioes_shards(data_dir, tmp_path):
    source = data_dir / "ner/conll2003/eng.testa"
    out = tmp_path / "tagged"
    manifest = run(["--input", str(source), "--lang", "en", "--output", str(out), "--num-shards", "3",
                    "--runner", "FnApiRunner"])
    expected = list(read_conll(source, tag_scheme=None))
    assert manifest.row_count == len(expected) == 3250
    assert len(manifest.shards) == 3
    assert manifest.counters["sentences_read"] == 3250
    assert manifest.counters["docstart_lines"] == 215
    assert manifest.config["tag_scheme"] == "BIOES" and manifest.input_files == [str(source)]
    assert validate_dataset(out) == []
    rows = sorted(open_dataset(out, kind="tagged").iter_rows(), key=lambda r: r["sentence_index"])
    for row, sentence in zip(rows, expected):
        assert row["tokens"] == sentence.tokens
        assert spans_from_tags(row["tags"]) == spans_from_tags(sentence.tags)
        assert row["id"] == f"eng.testa:{sentence.index}" and row["lang"] == "en"


def test_several_latin1_inputs_in_one_run(data_dir, tmp_path):
    out = tmp_path / "tagged"
    manifest = run(["--input", str(data_dir / "ner/conll2002/esp.test*"), "--lang", "es", "--encoding", "latin-1",
                    "--tag-scheme", "BIO", "--output", str(out), "--num-shards", "1", "--runner", "FnApiRunner"])
    assert manifest.counters["files_read"] == 2
    assert {row["corpus"] for row in open_dataset(out).iter_rows()} == {"esp.testa", "esp.testb"}
    assert validate_dataset(out) == []


def test_wrong_encoding_stops_with_file_and_line(data_dir, tmp_path, capsys):
    source = data_dir / "ner/conll2002/esp.testa"
    code = main_wrapper(run, ["--input", str(source), "--lang", "es", "--output", str(tmp_path / "x"),
                              "--runner", "FnApiRunner"])
    assert code == 1
    err = capsys.readouterr().err
    assert f"{source}:" in err and "is not valid utf-8" in err and "Traceback" not in err


def test_missing_input_is_a_clear_error(tmp_path, capsys):
    code = main_wrapper(run, ["--input", str(tmp_path / "nothing*.conll"), "--lang", "en",
                              "--output", str(tmp_path / "x")])
    assert code == 1 and "matches no file" in capsys.readouterr().err
