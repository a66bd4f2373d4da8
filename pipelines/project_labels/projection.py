"""Projecting a sentence's gold spans onto its translation through word alignment links (paper 002, §2.2).

Pure Python: no Beam, so the rules can be read and tested on their own. Methods (``METHODS``, by name):

- ``cluster`` (the default): span-to-span without far strays (``alignment.map_span_cluster``): the target words
  linked to the span, cut into clusters where more than 3 unlinked words separate them; the best-linked cluster,
  first to last word, gets the type. Usually the same span as ``span``; on every gold pair the shared data has
  (Europarl en↔de, XQuAD en→de/es/ar/vi/zh) never more than 0.001 below it on the same links, better on average
  and most where stray links are far (zh, vi, ar; bench/projection_gold.py, docs/project_labels.md).
- ``span`` (span-to-span, paper 002 eq. 2): a source span ``[i, n)`` maps to ``[min a, max a + 1)`` over the
  target words linked to any of its words (``alignment.map_span``); the type is copied.
- ``word`` (word-to-word, the paper's baseline, Table 5): every target word linked to a word of the span gets
  the span's type, and each maximal run of consecutive such target words becomes one span. A span whose
  translation is reordered or interrupted thus falls apart into fragments, an unaligned word leaves a gap.

Projected spans may overlap or nest: a stray link stretches a span-to-span projection over a neighbouring
entity, two source entities can share a target word. One span per target word survives; ``CONFLICT_POLICIES``
say which. A span with no aligned word is lost as ``unaligned``; one removed by the policy as ``conflict``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

from alignment.span_mapping import map_span, map_span_cluster, map_words
from schemas.errors import UsageError
from schemas.tags import Span

Link = tuple[int, int]
TargetSpans = list[tuple[int, int]]


def _runs(indices: Iterable[int]) -> list[tuple[int, int]]:
    """Maximal runs of consecutive integers as [start, end) pairs."""
    runs: list[list[int]] = []
    for j in sorted(set(indices)):
        if runs and j == runs[-1][1]:
            runs[-1][1] = j + 1
        else:
            runs.append([j, j + 1])
    return [(start, end) for start, end in runs]


def _one(mapped: tuple[int, int] | None) -> TargetSpans:
    return [] if mapped is None else [mapped]


# Method name → the target spans [start, end) of one source span (empty: no aligned word).
METHODS: dict[str, Callable[[Sequence[Link], int, int], TargetSpans]] = {
    "cluster": lambda links, start, end: _one(map_span_cluster(links, start, end)),
    "span": lambda links, start, end: _one(map_span(links, start, end)),
    "word": lambda links, start, end: _runs(j for linked in map_words(links, start, end) for j in linked),
}
DEFAULT_METHOD = "cluster"


def _mapper(method: str) -> Callable[[Sequence[Link], int, int], TargetSpans]:
    """The registered mapping of ``method``; ValueError listing the choices."""
    if method not in METHODS:
        raise UsageError(f"unknown projection method {method!r}; choose one of {', '.join(METHODS)}")
    return METHODS[method]


def map_source_span(links: Sequence[Link], start: int, end: int, method: str = DEFAULT_METHOD) -> TargetSpans:
    """The target spans of the source span ``[start, end)`` by ``method`` (one span, or several fragments
    with ``word``; empty when no word of the span is aligned)."""
    return _mapper(method)(links, start, end)


@dataclass(frozen=True)
class Candidate:
    """A projected span before conflicts are resolved."""

    span: Span  # target words [start, end) and the copied type
    source: Span  # the gold source span it was projected from
    support: float  # share of its target words linked to a word of its own source span


def _keep_coverage(candidates: list[Candidate]) -> list[Candidate]:
    # Best supported first: a span stretched by a stray link has unlinked words inside and yields.
    return sorted(candidates, key=lambda c: (-c.support, c.span.end - c.span.start, c.source.start))


def _keep_shorter(candidates: list[Candidate]) -> list[Candidate]:
    return sorted(candidates, key=lambda c: (c.span.end - c.span.start, c.source.start))


def _keep_longer(candidates: list[Candidate]) -> list[Candidate]:
    return sorted(candidates, key=lambda c: (-(c.span.end - c.span.start), c.source.start))


def _keep_first(candidates: list[Candidate]) -> list[Candidate]:
    return sorted(candidates, key=lambda c: (c.source.start, c.span.start))


# Priority orders: spans are accepted greedily in this order when they do not overlap an accepted one.
# ``drop`` is the exception: every span that overlaps another is lost.
CONFLICT_POLICIES: dict[str, Callable[[list[Candidate]], list[Candidate]] | None] = {
    "coverage": _keep_coverage,
    "shorter": _keep_shorter,
    "longer": _keep_longer,
    "first": _keep_first,
    "drop": None,
}
DEFAULT_CONFLICT = "coverage"


@dataclass(frozen=True)
class Projection:
    """The spans kept on the target side (sorted) and what happened to the source spans."""

    spans: list[Span]
    source_spans: int
    lost_unaligned: int
    lost_conflict: int

    @property
    def projected(self) -> int:
        """Projected spans kept (with ``word`` one source span may give several fragments)."""
        return len(self.spans)

    def stats(self) -> dict[str, int]:
        """The row's ``projection`` struct of the ``tagged`` schema."""
        return {"source_spans": self.source_spans, "projected": self.projected,
                "lost_unaligned": self.lost_unaligned, "lost_conflict": self.lost_conflict}


def _support(span: tuple[int, int], source: Span, links: Sequence[Link]) -> float:
    linked = {j for i, j in links if source.start <= i < source.end and span[0] <= j < span[1]}
    return len(linked) / (span[1] - span[0])


def candidates(source_spans: Sequence[Span], links: Sequence[Link],
               method: str = DEFAULT_METHOD) -> tuple[list[Candidate], int]:
    """Projected candidates of every source span, and the number of source spans with no aligned word."""
    mapping = _mapper(method)  # an unknown method fails even for a sentence without spans
    out: list[Candidate] = []
    unaligned = 0
    for source in source_spans:
        targets = mapping(links, source.start, source.end)
        if not targets:
            unaligned += 1
        out += [Candidate(Span(start, end, source.label), source, _support((start, end), source, links))
                for start, end in targets]
    return out, unaligned


def resolve_conflicts(found: list[Candidate], policy: str = DEFAULT_CONFLICT) -> tuple[list[Candidate], int]:
    """The candidates that survive ``policy`` (no two share a target word), and how many were removed."""
    if policy not in CONFLICT_POLICIES:
        raise UsageError(f"unknown conflict policy {policy!r}; choose one of {', '.join(CONFLICT_POLICIES)}")
    order = CONFLICT_POLICIES[policy]
    if order is None:  # drop: every span that overlaps another goes
        kept = [c for c in found if not any(o is not c and _overlap(o.span, c.span) for o in found)]
    else:
        kept = []
        for cand in order(found):
            if not any(_overlap(k.span, cand.span) for k in kept):
                kept.append(cand)
    return sorted(kept, key=lambda c: c.span), len(found) - len(kept)


def _overlap(a: Span, b: Span) -> bool:
    return a.start < b.end and b.start < a.end


def project(source_spans: Sequence[Span], links: Sequence[Link], method: str = DEFAULT_METHOD,
            conflict: str = DEFAULT_CONFLICT) -> Projection:
    """Project one sentence's gold spans through its links (0-based (source, target) word pairs)."""
    found, unaligned = candidates(source_spans, links, method)
    kept, removed = resolve_conflicts(found, conflict)
    return Projection(spans=[c.span for c in kept], source_spans=len(source_spans), lost_unaligned=unaligned,
                      lost_conflict=removed)
