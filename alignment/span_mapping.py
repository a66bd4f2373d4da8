"""Mapping source word spans to the target side through word alignment links.

Both the CLISM pipeline and label projection call these functions; they are pure Python with no imports so a
Beam worker pays nothing to load them. Spans are word indices ``[start, end)`` (half-open, the convention of
``schemas``); links are 0-based ``(source, target)`` pairs as the aligners return them.

- ``map_span``: paper 002's span-to-span rule (eq. 2), first to last linked target word.
- ``map_span_cluster``: the same after dropping far stray links; the pipelines' default (``map_target_span``),
  measured by ``bench/projection_gold.py`` on every gold pair the data has (docs/project_labels.md).
- ``map_words``: the word-to-word baseline.
"""
from __future__ import annotations

from typing import Iterable, List, Optional, Tuple

Link = Tuple[int, int]


def map_span(links: Iterable[Link], start: int, end: int) -> Optional[Tuple[int, int]]:
    """Span-to-span mapping (paper 002, §2.2, eq. 2).

    The source span ``[start, end)`` maps to the target span ``[min a, max a + 1)`` where ``a`` are the
    target words linked to any source word of the span: the target span covers everything in between, so a
    reordered or partly unaligned translation still gets one contiguous span. Returns ``None`` when no word
    of the span is aligned (the caller counts these as unmapped).
    """
    if end <= start:
        raise ValueError(f"empty or inverted span [{start}, {end})")
    lo = hi = -1
    for i, j in links:
        if start <= i < end:
            if lo < 0 or j < lo:
                lo = j
            if j > hi:
                hi = j
    if lo < 0:
        return None
    return lo, hi + 1


# Unlinked target words tolerated inside one cluster of a span's linked words. Span-to-span mapping exists to
# bridge gaps (an unaligned article, a reordered adjective), so small gaps must stay; a link 4 or more words
# away from the rest is a stray that would stretch the span over words that are not its translation. On the
# gold pairs (bench/projection_gold.py, two exploratory runs) gaps of 0-2 cut real gaps and fell below eq. 2 on
# some pair; 3 did not, and larger gaps changed next to nothing.
DEFAULT_MAX_GAP = 3


def map_span_cluster(links: Iterable[Link], start: int, end: int,
                     max_gap: int = DEFAULT_MAX_GAP) -> Optional[Tuple[int, int]]:
    """Span-to-span mapping without far strays.

    The target words linked to ``[start, end)`` are cut into clusters wherever more than ``max_gap`` unlinked
    target words separate two of them; the span is the cluster holding most of the span's links (ties: the
    earlier), from its first to its last word. With one cluster (the usual case) this is ``map_span``.
    ``None`` when no word of the span is aligned.
    """
    if end <= start:
        raise ValueError(f"empty or inverted span [{start}, {end})")
    if max_gap < 0:
        raise ValueError(f"max_gap must be at least 0, not {max_gap}")
    per_word: dict = {}
    for i, j in links:
        if start <= i < end:
            per_word[j] = per_word.get(j, 0) + 1
    if not per_word:
        return None
    clusters: list = []  # each a sorted list of linked target words
    for j in sorted(per_word):
        if clusters and j - clusters[-1][-1] - 1 <= max_gap:
            clusters[-1].append(j)
        else:
            clusters.append([j])
    # Most links wins; among equals the earlier cluster (max keeps the first of equal keys).
    best = max(clusters, key=lambda cluster: sum(per_word[j] for j in cluster))
    return best[0], best[-1] + 1


def map_target_span(links: Iterable[Link], start: int, end: int) -> Optional[Tuple[int, int]]:
    """The pipelines' span mapping (CLISM's ``[QUE]`` answers, label projection's default method)."""
    return map_span_cluster(links, start, end)


def map_words(links: Iterable[Link], start: int, end: int) -> List[Tuple[int, ...]]:
    """Word-to-word mapping, the baseline span-to-span is compared with (paper 002, Table 5).

    Returns one entry per source word of ``[start, end)``, in order: the sorted tuple of target word indices
    linked to it, ``()`` when it is unaligned. A label projector copies word ``start + k``'s label to the
    target words in entry ``k``; the result may be discontinuous, reordered or empty, which is exactly the
    weakness span-to-span mapping addresses.
    """
    if end <= start:
        raise ValueError(f"empty or inverted span [{start}, {end})")
    targets: List[List[int]] = [[] for _ in range(end - start)]
    for i, j in links:
        if start <= i < end:
            targets[i - start].append(j)
    return [tuple(sorted(set(t))) for t in targets]
