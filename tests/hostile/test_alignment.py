"""Catalogue: word-alignment inputs given to ``python -m alignment`` (cut and damaged copies of the WPT-2003
English-French gold). Each case stops the command with one line naming the file and the line."""
from alignment.__main__ import main
from hostile.outcomes import assert_failed_cleanly

PAIRS = 30


def _head(path, lines: int) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()[:lines]


def _write(path, lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_gold_index_past_the_sentence_end(data_dir, tmp_path, capsys):
    gold_dir = data_dir / "align_gold"
    corpus = _write(tmp_path / "enfr.src-tgt", _head(gold_dir / "enfr.src-tgt", PAIRS))
    gold_lines = _head(gold_dir / "enfr.gold", PAIRS)
    predicted = _write(tmp_path / "pred.txt", gold_lines)
    source_words = len(corpus.read_text(encoding="utf-8").splitlines()[4].split("|||")[0].split())
    gold_lines[4] += f" {source_words + 1}-1"  # 1-based: one past the last source word of pair 5
    gold = _write(tmp_path / "enfr.gold", gold_lines)
    status = main(["evaluate", "--gold", str(gold), "--pred", str(predicted), "--one-based", "-i", str(corpus)])
    assert_failed_cleanly(status, capsys.readouterr().err, f"{gold}, line 5:", f"link {source_words + 1}-1",
                          "past the end of the sentence pair")


def test_links_file_with_fewer_lines_than_the_corpus(data_dir, tmp_path, capsys):
    gold_dir = data_dir / "align_gold"
    corpus = _write(tmp_path / "enfr.src-tgt", _head(gold_dir / "enfr.src-tgt", PAIRS))
    links = _write(tmp_path / "links.txt", _head(gold_dir / "enfr.gold", PAIRS - 10))
    out = tmp_path / "aligned.txt"
    status = main(["align", "--aligner", "precomputed", "--links", str(links), "--links-one-based",
                   "-i", str(corpus), "--out", str(out)])
    assert_failed_cleanly(status, capsys.readouterr().err, f"{links}, line {PAIRS - 9}:",
                          f"has {PAIRS - 10} lines but there are {PAIRS} sentence pairs")
    assert not out.exists() or out.read_text() == "", "links written after a failed alignment"
