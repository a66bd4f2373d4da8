"""Span projection rules on hand-made alignments: span-to-span vs word-to-word, losses, conflict policies."""
import pytest

from pipelines.project_labels.projection import CONFLICT_POLICIES, candidates, project, resolve_conflicts
from schemas.tags import Span, tags_from_spans


def test_span_to_span_covers_a_reordered_and_partly_unaligned_translation():
    # "the European Central Bank" -> "die Europäische , Zentral- Bank": source words 1..3 (ORG), target word 2 (a
    # comma) unaligned, source word 2 aligned past source word 3 (reordering).
    links = [(0, 0), (1, 1), (2, 4), (3, 3)]
    source = [Span(1, 4, "ORG")]
    assert project(source, links, "span").spans == [Span(1, 5, "ORG")]
    # Word-to-word falls apart at the unaligned comma: two fragments, neither of them the entity.
    assert project(source, links, "word").spans == [Span(1, 2, "ORG"), Span(3, 5, "ORG")]
    assert tags_from_spans(6, project(source, links).spans) == ["O", "B-ORG", "I-ORG", "I-ORG", "E-ORG", "O"]


def test_spans_without_links_are_lost_as_unaligned():
    result = project([Span(0, 1, "PER"), Span(2, 3, "LOC")], [(0, 1)])
    assert result.spans == [Span(1, 2, "PER")]
    assert result.stats() == {"source_spans": 2, "projected": 1, "lost_unaligned": 1, "lost_conflict": 0}


def test_conflict_policies_on_a_span_stretched_by_a_stray_link():
    # PER "Smith" -> target word 1; ORG "the Commission" -> target words 3-4, plus a stray link to target word 0,
    # so span-to-span stretches ORG over [0, 5) and swallows PER.
    source = [Span(0, 1, "PER"), Span(2, 4, "ORG")]
    links = [(0, 1), (2, 0), (2, 3), (3, 4)]
    found, unaligned = candidates(source, links, "span")
    assert unaligned == 0 and [c.span for c in found] == [Span(1, 2, "PER"), Span(0, 5, "ORG")]
    kept = {policy: [c.span for c in resolve_conflicts(found, policy)[0]] for policy in CONFLICT_POLICIES}
    assert kept["coverage"] == [Span(1, 2, "PER")]  # PER is fully linked, ORG only 3 of 5 words
    assert kept["shorter"] == [Span(1, 2, "PER")]
    assert kept["longer"] == [Span(0, 5, "ORG")]
    assert kept["first"] == [Span(1, 2, "PER")]
    assert kept["drop"] == []
    result = project(source, links, "span", "drop")
    assert result.lost_conflict == 2 and result.projected == 0


def test_coverage_prefers_the_better_linked_of_two_equally_long_spans():
    # PER [0, 2) -> target [1, 4) with 2 of its 3 words linked; LOC [3, 4) -> target [2, 5), all 3 linked.
    source = [Span(0, 2, "PER"), Span(3, 4, "LOC")]
    links = [(0, 1), (1, 3), (3, 2), (3, 3), (3, 4)]
    found, _ = candidates(source, links, "span")
    assert [c.span for c in found] == [Span(1, 4, "PER"), Span(2, 5, "LOC")]
    assert [c.span for c in resolve_conflicts(found, "coverage")[0]] == [Span(2, 5, "LOC")]
    for policy in ("first", "shorter", "longer"):  # equally long: the earlier source span wins
        assert [c.span for c in resolve_conflicts(found, policy)[0]] == [Span(1, 4, "PER")]


def test_unknown_method_and_policy_are_refused():
    with pytest.raises(ValueError, match="projection method"):
        project([Span(0, 1, "PER")], [], "phrase")
    with pytest.raises(ValueError, match="conflict policy"):
        project([Span(0, 1, "PER")], [(0, 0)], "span", "random")


def test_default_method_is_cluster_and_drops_a_far_stray_link():
    from pipelines.project_labels.projection import DEFAULT_METHOD, METHODS, map_source_span
    assert DEFAULT_METHOD == "cluster" and set(METHODS) == {"cluster", "span", "word"}
    # LOC "Austria" -> target word 1, with a stray link to target word 6 (five words on).
    source, links = [Span(0, 1, "LOC")], [(0, 1), (0, 6), (1, 2)]
    assert project(source, links, "span").spans == [Span(1, 7, "LOC")]
    assert project(source, links).spans == [Span(1, 2, "LOC")]
    assert map_source_span(links, 0, 1, "word") == [(1, 2), (6, 7)]
    with pytest.raises(ValueError, match="projection method"):
        map_source_span(links, 0, 1, "phrase")


def test_cluster_avoids_the_conflict_a_far_stray_link_causes():
    # PER "Smith" -> target word 1; ORG "the Commission" -> target words 6-7 plus a stray link to word 0. Eq. 2
    # stretches ORG over [0, 8), swallowing PER, and the conflict policy loses ORG; the cluster rule cuts the
    # stray (five unlinked words away) and keeps both.
    source = [Span(0, 1, "PER"), Span(2, 4, "ORG")]
    links = [(0, 1), (2, 0), (2, 6), (3, 7)]
    naive = project(source, links, "span")
    assert naive.spans == [Span(1, 2, "PER")] and naive.lost_conflict == 1
    clustered = project(source, links, "cluster")
    assert clustered.spans == [Span(1, 2, "PER"), Span(6, 8, "ORG")] and clustered.lost_conflict == 0
