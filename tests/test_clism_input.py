"""CLISM input: reading parallel corpora in every format, and cleaning/tokenising pairs, each oddity counted."""
from collections import Counter

import pytest

from pipelines.clism.parallel_input import (CorpusError, CorpusSpec, ReadPolicy, parse_corpus_spec,
                                            read_corpus)
from pipelines.clism.prepare import PrepareOptions, prepare_pair


def write(path, text: str, encoding="utf-8"):
    path.write_bytes(text.encode(encoding))
    return str(path)


def read(spec, policy=ReadPolicy()):
    counts, drops = Counter(), Counter()
    pairs = list(read_corpus(spec, policy, lambda k, n: counts.update({k: n}), lambda k, n: drops.update({k: n})))
    return pairs, counts, drops


def test_two_files_pair_by_line_with_stable_ids(tmp_path):
    src = write(tmp_path / "a.en", "\ufeffHello Anna.\r\nSecond\u2028line.\n\nLast\n")
    tgt = write(tmp_path / "a.de", "Hallo Anna.\nZweite Zeile.\nLeer\nLetzte\n")
    pairs, _, _ = read(CorpusSpec("en", "de", "lines", (src, tgt)))
    # BOM and \r gone; U+2028 is inside a line, not a line break; the empty source line is still a pair.
    assert [(p.line, p.source, p.target) for p in pairs] == [
        (0, "Hello Anna.", "Hallo Anna."), (1, "Second\u2028line.", "Zweite Zeile."), (2, "", "Leer"),
        (3, "Last", "Letzte")]
    assert [p.key for p in pairs] == [f"en-de:a.en:{n}" for n in range(4)]


def test_compressed_files_are_read_by_extension(tmp_path):
    import bz2
    import gzip
    (tmp_path / "a.en.gz").write_bytes(gzip.compress("one\ntwo\n".encode()))
    (tmp_path / "a.de.bz2").write_bytes(bz2.compress("eins\nzwei\n".encode()))
    pairs, _, _ = read(CorpusSpec("en", "de", "lines", (str(tmp_path / "a.en.gz"), str(tmp_path / "a.de.bz2"))))
    assert [(p.source, p.target) for p in pairs] == [("one", "eins"), ("two", "zwei")]
    assert pairs[0].corpus == "a.en.gz"


def test_length_mismatch_stops_with_file_and_line_or_is_counted(tmp_path):
    src = write(tmp_path / "s.txt", "a\nb\nc\n")
    tgt = write(tmp_path / "t.txt", "x\n")
    spec = CorpusSpec("en", "de", "lines", (src, tgt))
    with pytest.raises(CorpusError, match=r"s\.txt:2: .*more lines than .*t\.txt \(1\)"):
        read(spec)
    pairs, _, drops = read(spec, ReadPolicy(on_length_mismatch="truncate"))
    assert len(pairs) == 1 and drops == {"unpaired_line": 2}


def test_tsv_and_joint_formats_and_malformed_lines(tmp_path):
    tsv = write(tmp_path / "p.tsv", "a b\tx y\nno tab here\nc\td\te\nf\tg\n")
    spec = CorpusSpec("en", "fr", "tsv", (tsv,))
    with pytest.raises(CorpusError, match=r"p\.tsv:2: expected exactly one a tab"):
        read(spec)
    pairs, _, drops = read(spec, ReadPolicy(on_malformed="skip"))
    assert [(p.line, p.source, p.target) for p in pairs] == [(0, "a b", "x y"), (3, "f", "g")]
    assert drops == {"malformed_line": 2}
    joint = write(tmp_path / "p.txt", "a b ||| x y\n")
    pairs, _, _ = read(CorpusSpec("en", "fr", "joint", (joint,)))
    assert (pairs[0].source, pairs[0].target) == ("a b ", " x y")  # cleaning strips later


def test_not_utf8_names_file_and_line(tmp_path):
    src = write(tmp_path / "s.txt", "ok\ncaf\xe9\n", encoding="latin-1")
    tgt = write(tmp_path / "t.txt", "ok\nok\n")
    with pytest.raises(CorpusError, match=r"s\.txt:2: byte b'\\xe9' at column 4 is not valid UTF-8"):
        read(CorpusSpec("en", "de", "lines", (src, tgt)))


def test_conll_source_spans(tmp_path):
    conll = write(tmp_path / "g.conll", "-DOCSTART- O\n\nAnna B-PER\nlives O\nin O\nNew B-LOC\nYork I-LOC\n\n"
                                        "Hi O\n\n")
    tgt = write(tmp_path / "t.txt", "Anna wohnt in New York\nHallo\n")
    import gzip
    (tmp_path / "g.conll.gz").write_bytes(gzip.compress(open(conll, "rb").read()))
    pairs, counts, _ = read(CorpusSpec("en", "de", "conll", (str(tmp_path / "g.conll.gz"), tgt)))
    assert pairs[0].source_tokens == ("Anna", "lives", "in", "New", "York")
    assert pairs[0].gold_spans == ((0, 1, "PER"), (3, 5, "LOC"))
    assert pairs[1].gold_spans == () and counts["conll_docstart_lines"] == 1
    short = write(tmp_path / "short.txt", "Anna wohnt in New York\n")
    message = r"g\.conll:9: \S+g\.conll has more sentences than \S+short\.txt has lines \(1\)"
    with pytest.raises(CorpusError, match=message):
        read(CorpusSpec("en", "de", "conll", (conll, short)))


def test_corpus_spec_parsing():
    spec = parse_corpus_spec(["en-ar", "lines", "gs://b/x.en", "gs://b/x.ar", "name=tatoeba"])
    assert (spec.group, spec.format, spec.paths, spec.name) == ("en-ar", "lines", ("gs://b/x.en", "gs://b/x.ar"),
                                                                 "tatoeba")
    assert parse_corpus_spec(["en-de", "tsv", "p.tsv"]).name == "p.tsv"
    with pytest.raises(ValueError, match="takes 2 path"):
        parse_corpus_spec(["en-de", "lines", "only-one"])
    with pytest.raises(ValueError, match="unknown corpus format 'csv'"):
        parse_corpus_spec(["en-de", "csv", "p.csv"])
    with pytest.raises(ValueError, match="expected SRC-TGT"):
        parse_corpus_spec(["ende", "tsv", "p.tsv"])


def prepare(raw_source, raw_target, options=PrepareOptions(), **extra):
    from pipelines.clism.parallel_input import RawPair
    raw = RawPair("k", "en-de", "en", "de", "c", 0, raw_source, raw_target, **extra)
    drops, counts = Counter(), Counter()
    pair = prepare_pair(raw, options, lambda k, n: drops.update({k: n}), lambda k, n: counts.update({k: n}))
    return pair, drops, counts


def test_prepare_unescapes_strips_and_tokenises():
    pair, drops, counts = prepare("  Parliament &apos;s job &amp; duty ", "Aufgabe &amp; Pflicht des Parlaments")
    assert pair.source == "Parliament 's job & duty" and pair.target == "Aufgabe & Pflicht des Parlaments"
    assert counts == {"source_lines_html_unescaped": 1, "target_lines_html_unescaped": 1} and not drops
    assert pair.source_tokens() == ("Parliament", "'s", "job", "&", "duty")
    pair, _, counts = prepare("AT&T works", "AT&T arbeitet", PrepareOptions(html_unescape=True))
    assert pair.source == "AT&T works" and not counts  # no character reference: nothing to unescape
    pair, _, _ = prepare("don't stop", "x", PrepareOptions(pretokenized=True))
    assert pair.source_tokens() == ("don't", "stop")  # --pretokenized: whitespace words only


@pytest.mark.parametrize("source, target, options, reason", [
    ("", "x", PrepareOptions(), "empty_source"),
    ("x", "   ", PrepareOptions(), "empty_target"),
    ("", "", PrepareOptions(), "empty_pair"),
    ("one two three", "eins zwei", PrepareOptions(max_words=2), "source_over_max_words"),
    ("a", "b" * 20, PrepareOptions(max_chars=10), "target_over_max_chars"),
    ("the [QUE] token", "x", PrepareOptions(), "que_token_in_text"),
])
def test_prepare_drops_with_a_reason(source, target, options, reason):
    pair, drops, _ = prepare(source, target, options)
    assert pair is None and drops == {reason: 1}


def test_prepare_conll_source_keeps_its_tokens_as_words():
    pair, _, _ = prepare("", "Anna wohnt hier", source_tokens=("Anna", "lives", "here", "&amp;"),
                         gold_spans=((0, 1, "PER"),))
    assert pair.source == "Anna lives here &"
    assert pair.source_tokens() == ("Anna", "lives", "here", "&") and pair.spans == ((0, 1, "PER"),)
