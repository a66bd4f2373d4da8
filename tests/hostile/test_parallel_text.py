"""Catalogue: parallel text given to ``pipelines.clism`` (cut and damaged copies of the shared Tatoeba
English-German pairs). Unpairable input stops the run with the file and line (the ``--on-length-mismatch`` and
``--on-malformed`` policies would count it instead); empty sentences are dropped and counted; CRLF files read
like LF ones."""
import pytest

from pipelines.clism.__main__ import main
from hostile.outcomes import assert_failed_cleanly, manifest_of
from spacy_models import build_ruler_model

RUNNER = ["--runner", "FnApiRunner"]
PAIRS = 24

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tatoeba(data_dir):
    """The first pairs of Tatoeba English-German, as lists of lines."""
    folder = data_dir / "parallel"
    english = (folder / "tatoeba.deu-eng.eng").read_text(encoding="utf-8").split("\n")[:PAIRS]
    german = (folder / "tatoeba.deu-eng.deu").read_text(encoding="utf-8").split("\n")[:PAIRS]
    return english, german


@pytest.fixture(scope="module")
def ner_model(data_dir, tmp_path_factory):
    # An entity ruler from CoNLL-2003 English dev (a second to build): it finds names in most of these pairs.
    return build_ruler_model(data_dir / "ner" / "conll2003" / "eng.testa", tmp_path_factory.mktemp("ner") / "en")


def _clism(ner_model, inputs, out) -> int:
    return main([*inputs, "--src-lang", "en", "--tgt-lang", "de", "--ner-model", str(ner_model),
                 "--output", str(out), "--num-shards", "1", *RUNNER])


def _write(path, lines, ending="\n"):
    path.write_bytes("".join(line + ending for line in lines).encode("utf-8"))
    return path


def test_line_counts_that_differ(tatoeba, ner_model, tmp_path, capsys):
    english, german = tatoeba
    src, tgt = _write(tmp_path / "a.en", english), _write(tmp_path / "a.de", german[:-1])
    out = tmp_path / "out"
    status = _clism(ner_model, ["--src", str(src), "--tgt", str(tgt)], out)
    assert_failed_cleanly(status, capsys.readouterr().err, f"{src}:{PAIRS}:", f"has more lines than {tgt}",
                          output=out)


def test_joint_line_with_three_fields(tatoeba, ner_model, tmp_path, capsys):
    english, german = tatoeba
    lines = [f"{e} ||| {g}" for e, g in zip(english, german)]
    lines[9] += " ||| " + german[10]
    joint = _write(tmp_path / "pairs.txt", lines)
    out = tmp_path / "out"
    status = _clism(ner_model, ["--joint", str(joint)], out)
    assert_failed_cleanly(status, capsys.readouterr().err, f"{joint}:10:", "expected exactly one '|||'",
                          "found 2", output=out)


@pytest.fixture(scope="module")
def crlf_run(tatoeba, ner_model, tmp_path_factory):
    """CRLF files whose German side has two empty lines: one run serves both cases."""
    english, german = tatoeba
    german = list(german)
    german[3] = german[11] = ""
    folder = tmp_path_factory.mktemp("crlf")
    src, tgt = _write(folder / "b.en", english, "\r\n"), _write(folder / "b.de", german, "\r\n")
    out = folder / "out"
    status = _clism(ner_model, ["--src", str(src), "--tgt", str(tgt)], out)
    return status, out


def test_empty_lines_on_one_side(crlf_run):
    status, out = crlf_run
    assert status == 0
    manifest = manifest_of(out)
    assert manifest["dropped"]["empty_target"] == 2
    assert manifest["counters"]["pairs_read"] == PAIRS


def test_crlf_line_endings(crlf_run, tatoeba):
    from schemas import open_dataset
    status, out = crlf_run
    assert status == 0
    rows = list(open_dataset(out).iter_rows())
    assert rows, "the CRLF pairs gave no row"
    english, german = tatoeba
    for row in rows:
        assert "\r" not in row["source"] and "\r" not in row["target"]
        line = int(row["id"].rsplit(":", 1)[1])
        assert (row["source"], row["target"]) == (english[line].strip(), german[line].strip())
