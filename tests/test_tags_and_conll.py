"""Tag schemes and the CoNLL reader/writer, on hand-made sequences and on the real CoNLL files."""
import io

import pytest

from schemas.conll import ConllError, ConllStats, read_conll, write_conll
from schemas.row_checks import tag_sequence_problems
from schemas.tags import Span, convert_tags, spans_from_tags, tags_from_spans


def test_spans_from_iob1_bio_and_bioes():
    # IOB1: B- only where an entity directly follows another of the same type.
    assert spans_from_tags(["I-PER", "I-PER", "B-PER", "O", "I-LOC"]) == [
        Span(0, 2, "PER"), Span(2, 3, "PER"), Span(4, 5, "LOC")]
    assert spans_from_tags(["B-ORG", "I-ORG", "B-ORG", "I-MISC"]) == [
        Span(0, 2, "ORG"), Span(2, 3, "ORG"), Span(3, 4, "MISC")]
    assert spans_from_tags(["S-LOC", "B-PER", "I-PER", "E-PER", "O"]) == [Span(0, 1, "LOC"), Span(1, 4, "PER")]
    # conlleval: a type change inside I- tags starts a new entity.
    assert spans_from_tags(["I-PER", "I-LOC"]) == [Span(0, 1, "PER"), Span(1, 2, "LOC")]


def test_writing_bio_and_bioes():
    spans = [Span(0, 2, "PER"), Span(3, 4, "LOC"), Span(4, 7, "ORG")]
    assert tags_from_spans(7, spans, "BIO") == ["B-PER", "I-PER", "O", "B-LOC", "B-ORG", "I-ORG", "I-ORG"]
    assert tags_from_spans(7, spans, "BIOES") == ["B-PER", "E-PER", "O", "S-LOC", "B-ORG", "I-ORG", "E-ORG"]
    with pytest.raises(ValueError, match="overlaps"):
        tags_from_spans(5, [Span(0, 3, "PER"), Span(2, 4, "LOC")])
    with pytest.raises(ValueError, match="outside"):
        tags_from_spans(3, [Span(2, 4, "PER")])
    with pytest.raises(ValueError, match="malformed tag"):
        spans_from_tags(["X-PER"])


def test_conll_2003_iob1_converts_to_valid_bioes_with_the_same_entities(data_dir):
    path = data_dir / "ner/conll2003/eng.train"
    stats = ConllStats()
    raw = list(read_conll(path, tag_scheme=None))
    converted = list(read_conll(path, tag_scheme="BIOES", stats=stats))
    # The published size of the CoNLL-2003 English training set.
    assert stats.sentences == len(converted) == 14041 and stats.tokens == 203621
    assert stats.documents == 945  # -DOCSTART- lines in this copy of the file
    assert any(tag.startswith("B-") for s in raw for tag in s.tags)  # IOB1's rare B- between two entities
    for before, after in zip(raw, converted):
        assert before.tokens == after.tokens
        assert spans_from_tags(before.tags) == spans_from_tags(after.tags)
        assert tag_sequence_problems(after.tags, "BIOES") == []


def test_conll_2002_spanish_is_latin1_and_utf8_reading_names_the_line(data_dir):
    path = data_dir / "ner/conll2002/esp.train"
    sentences = list(read_conll(path, encoding="latin-1", tag_scheme="BIO"))
    assert len(sentences) == 8323
    assert any("ñ" in token for s in sentences for token in s.tokens)
    with pytest.raises(ConllError, match=r"esp\.train:\d+: byte .* is not valid utf-8"):
        list(read_conll(path))


def test_conll_2002_dutch_short_lines_are_kept_and_counted(data_dir):
    stats = ConllStats()
    sentences = list(read_conll(data_dir / "ner/conll2002/ned.train", encoding="latin-1", stats=stats))
    assert stats.short_lines > 100 and stats.documents > 0
    assert all(len(s.tokens) == len(s.tags) for s in sentences)
    line = stats.short_line_numbers[0]
    text = (data_dir / "ner/conll2002/ned.train").read_bytes().decode("latin-1").splitlines()[line - 1]
    assert "\x81" in text and len(text.split()) == 2


@pytest.mark.parametrize("scheme", ["BIO", "BIOES"])
def test_round_trip_through_writer_keeps_entity_spans(data_dir, scheme):
    original = list(read_conll(data_dir / "ner/conll2002/esp.testa", encoding="latin-1", tag_scheme=scheme))
    text = write_conll([(s.tokens, s.tags) for s in original])
    again = list(read_conll(io.StringIO(text), tag_scheme=scheme))
    assert [s.tokens for s in again] == [s.tokens for s in original]
    assert [spans_from_tags(s.tags) for s in again] == [spans_from_tags(s.tags) for s in original]
    assert sum(len(spans_from_tags(s.tags)) for s in again) > 4000


def test_europarl_sides_have_799_sentences(data_dir):
    en = list(read_conll(data_dir / "ner/en-europarl.test.conll02"))
    de = list(read_conll(data_dir / "ner/de-europarl.test.conll02"))
    assert len(en) == len(de) == 799


def test_malformed_lines_name_file_and_line():
    with pytest.raises(ConllError, match=r"^bad\.conll:3: expected a token and a tag"):
        list(read_conll(io.StringIO("a O\nb O\nlonely\n"), name="bad.conll"))
    with pytest.raises(ConllError, match=r"^bad\.conll:2: malformed tag 'Q-PER'"):
        list(read_conll(io.StringIO("a O\nb Q-PER\n"), name="bad.conll"))
    assert convert_tags(["O", "I-PER", "I-PER"], "BIO") == ["O", "B-PER", "I-PER"]
