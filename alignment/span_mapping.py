"""Mapping source word spans to the target side through word alignment links.

Both the CLISM pipeline and label projection call these two functions; they are pure Python with no
imports so a Beam worker pays nothing to load them. Spans are word indices ``[start, end)`` (half-open,
the convention of ``schemas``); links are 0-based ``(source, target)`` pairs as the aligners return them.
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
