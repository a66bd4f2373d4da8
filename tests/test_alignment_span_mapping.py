"""Span-to-span (paper 002 eq. 2), its cluster variant (the pipelines' default) and word-to-word mapping."""
import pytest

from alignment import map_span, map_words
from alignment.span_mapping import DEFAULT_MAX_GAP, map_span_cluster, map_target_span

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


# map_span_cluster: span-to-span without far strays (the pipelines' default, map_target_span).


def test_cluster_equals_span_to_span_when_the_links_are_close():
    for links, start, end in ((LINKS, 1, 3), (LINKS, 0, 4), ([(0, 5), (1, 1)], 0, 2), ([(0, 2), (1, 0)], 0, 2)):
        assert map_span_cluster(links, start, end) == map_span(links, start, end)


def test_cluster_drops_a_far_stray_link():
    # "Sri Lanka" → "Sri Lanka", plus one stray link from "Sri" to a word five places later: eq. 2 stretches the
    # span over "mehrere Bombenexplosionen mit zahlreichen Toten" (Europarl), the cluster rule does not.
    links = [(0, 0), (1, 1), (0, 6)]
    assert map_span(links, 0, 2) == (0, 7)
    assert map_span_cluster(links, 0, 2) == (0, 2)


def test_cluster_bridges_gaps_up_to_max_gap_unlinked_words():
    gap = DEFAULT_MAX_GAP
    assert gap == 3
    assert map_span_cluster([(0, 0), (1, gap + 1)], 0, 2) == (0, gap + 2)      # 3 unlinked words between: bridged
    assert map_span_cluster([(0, 0), (0, 1), (1, gap + 3)], 0, 2) == (0, 2)    # 4: cut, the 2-link cluster wins
    assert map_span_cluster([(0, 0), (1, 2)], 0, 2, max_gap=0) == (0, 1)       # tie of one link each: the earlier
    assert map_span_cluster([(0, 0), (1, 2)], 0, 2, max_gap=1) == (0, 3)


def test_cluster_keeps_the_cluster_with_most_links_wherever_it_is():
    # One link early, three links late: the late cluster is the translation.
    links = [(0, 1), (0, 10), (1, 11), (2, 11)]
    assert map_span_cluster(links, 0, 3) == (10, 12)
    # Links from outside the span count for nothing.
    assert map_span_cluster(links + [(5, 1), (5, 2)], 0, 3) == (10, 12)


def test_cluster_unaligned_and_invalid():
    assert map_span_cluster(LINKS, 4, 6) is None
    with pytest.raises(ValueError):
        map_span_cluster(LINKS, 2, 2)
    with pytest.raises(ValueError, match="max_gap"):
        map_span_cluster(LINKS, 0, 1, max_gap=-1)


def test_the_pipelines_mapping_is_the_cluster_rule():
    links = [(0, 0), (1, 1), (0, 6)]
    assert map_target_span(links, 0, 2) == map_span_cluster(links, 0, 2) == (0, 2)
