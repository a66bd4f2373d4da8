"""Span-to-span (paper 002 eq. 2) and word-to-word mapping."""
import pytest

from alignment import map_span, map_words

# "the European Parliament voted" → "le Parlement européen a voté": reordered adjective, one unaligned word.
LINKS = [(0, 0), (1, 2), (2, 1), (3, 4)]


def test_span_to_span_covers_min_to_max():
    assert map_span(LINKS, 1, 3) == (1, 3)   # European Parliament → Parlement européen
    assert map_span(LINKS, 1, 2) == (2, 3)
    assert map_span(LINKS, 0, 4) == (0, 5)
    assert map_span(LINKS, 3, 4) == (4, 5)


def test_span_to_span_fills_gaps_and_reorders():
    # Source words aligned to target words 5 and 1 → the whole span between, word order ignored.
    assert map_span([(0, 5), (1, 1)], 0, 2) == (1, 6)


def test_unaligned_span_is_none():
    assert map_span(LINKS, 4, 6) is None
    assert map_span([], 0, 1) is None


def test_invalid_span():
    with pytest.raises(ValueError):
        map_span(LINKS, 2, 2)
    with pytest.raises(ValueError):
        map_words(LINKS, 3, 1)


def test_word_to_word():
    assert map_words(LINKS, 1, 3) == [(2,), (1,)]
    assert map_words([(0, 3), (0, 1), (0, 1), (2, 0)], 0, 3) == [(1, 3), (), (0,)]


def test_accepts_any_iterable_of_links():
    assert map_span(iter(LINKS), 1, 3) == (1, 3)
    assert map_span({(5, 2), (5, 9)}, 5, 6) == (2, 10)
