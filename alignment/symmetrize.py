"""Symmetrisation of forward and reverse links, with the semantics of fast_align's ``atools -c``.

Written from the heuristics' definitions (Och & Ney 2003; Koehn et al. 2003, "grow-diag-final"), made to
match atools' output exactly on the reference files in align_gold/symmetrization/ (tests assert it):

- ``intersect`` / ``union``: set operations.
- ``grow-diag``: start from the intersection; sweep the union points not yet aligned in (source, target)
  order and add each one that neighbours (8-neighbourhood, diagonals included) an aligned point and whose
  source word or target word is still unaligned. Points added during a sweep count at once for the rest of
  it (the grid is updated in place), and sweeps repeat until one adds nothing. (Sweeping the *aligned*
  points and adding their neighbours instead, as Koehn's pseudo-code reads, gives a different result on
  ~20% of the reference sentences.)
- ``grow-diag-final``: then add forward points, then reverse points, (each sweep in grid order) whose source
  OR target word is still unaligned.
- ``grow-diag-final-and``: the same, but only where source AND target word are both unaligned.

Inputs are 0-based (i, j) links; the output is a sorted list. Like atools, the grid is as large as the
largest index seen, so no sentence lengths are needed.
"""
from __future__ import annotations

from typing import Iterable, List, Sequence, Set

from .pharaoh import Link

HEURISTICS = ("intersect", "union", "grow-diag", "grow-diag-final", "grow-diag-final-and")
# The alignment layer's default (the pipelines choose their own in pipelines/align/options.py).
DEFAULT_HEURISTIC = "grow-diag-final-and"
# Accepted spellings for convenience; canonical names are the atools ones above.
_ALIASES = {"intersection": "intersect", "gdfa": "grow-diag-final-and", "gdf": "grow-diag-final",
            "gd": "grow-diag"}

# The 8-neighbourhood of a grid point (the "diag" in grow-diag).
_NEIGHBOURS = ((-1, 0), (0, -1), (1, 0), (0, 1), (-1, -1), (-1, 1), (1, -1), (1, 1))


def canonical_heuristic(name: str) -> str:
    """Canonical atools name of a heuristic; ValueError listing the choices if unknown."""
    key = _ALIASES.get(name, name)
    if key not in HEURISTICS:
        raise ValueError(f"unknown symmetrisation heuristic {name!r}; choose one of {', '.join(HEURISTICS)}")
    return key


def _grow_diag(alignment: Set[Link], union: Set[Link], src_aligned: Set[int], tgt_aligned: Set[int]) -> None:
    """In-place grow step, as atools does it: sweep the union's points that are not yet aligned in grid
    order ((source, target) order) and add one when it touches an aligned point (8-neighbourhood) and its
    source or target word is still unaligned. Points added earlier in a sweep count at once (the grid is
    updated in place); sweeps repeat until one adds nothing. Only union points can ever be added, so the
    sweep visits just those instead of the whole grid."""
    candidates = sorted(union - alignment)
    added = True
    while added and candidates:
        added = False
        remaining = []
        for cand in candidates:
            i, j = cand
            if i in src_aligned and j in tgt_aligned:
                # Both words are aligned now and alignment only grows: it can never be added again.
                continue
            if any((i + di, j + dj) in alignment for di, dj in _NEIGHBOURS):
                alignment.add(cand)
                src_aligned.add(i)
                tgt_aligned.add(j)
                added = True
            else:
                remaining.append(cand)
        candidates = remaining


def _final(alignment: Set[Link], links: Iterable[Link], src_aligned: Set[int], tgt_aligned: Set[int],
           need_both: bool) -> None:
    for i, j in sorted(links):
        if (i, j) in alignment:
            continue
        src_free, tgt_free = i not in src_aligned, j not in tgt_aligned
        if (src_free and tgt_free) if need_both else (src_free or tgt_free):
            alignment.add((i, j))
            src_aligned.add(i)
            tgt_aligned.add(j)


def symmetrize(forward: Iterable[Link], reverse: Iterable[Link],
               heuristic: str = DEFAULT_HEURISTIC) -> List[Link]:
    """Symmetrise one sentence pair's forward and reverse links (0-based (i, j), source-target order in
    both) into a sorted list of links."""
    heuristic = canonical_heuristic(heuristic)
    fwd, rev = set(forward), set(reverse)
    if heuristic == "union":
        return sorted(fwd | rev)
    alignment = fwd & rev
    if heuristic == "intersect":
        return sorted(alignment)
    src_aligned = {i for i, _ in alignment}
    tgt_aligned = {j for _, j in alignment}
    _grow_diag(alignment, fwd | rev, src_aligned, tgt_aligned)
    if heuristic != "grow-diag":
        need_both = heuristic == "grow-diag-final-and"
        _final(alignment, fwd, src_aligned, tgt_aligned, need_both)
        _final(alignment, rev, src_aligned, tgt_aligned, need_both)
    return sorted(alignment)


def symmetrize_all(forward: Sequence[Iterable[Link]], reverse: Sequence[Iterable[Link]],
                   heuristic: str = DEFAULT_HEURISTIC) -> List[List[Link]]:
    """Symmetrise a corpus: one link list per sentence pair."""
    if len(forward) != len(reverse):
        raise ValueError(f"{len(forward)} forward but {len(reverse)} reverse alignments")
    heuristic = canonical_heuristic(heuristic)
    return [symmetrize(f, r, heuristic) for f, r in zip(forward, reverse)]
