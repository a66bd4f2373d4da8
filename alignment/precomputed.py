"""Links computed elsewhere, read from Pharaoh files (for users who align with their own tools)."""
from __future__ import annotations

from typing import Optional, Sequence

from .base import Aligner, Directional, Pair
from .corpus import sentence_lengths
from .pharaoh import read_links


class PrecomputedAligner(Aligner):
    """Reads forward (and optionally reverse) links, one Pharaoh line per pair, checked against the pairs'
    lengths and count. With one file only, it serves as both directions, so every heuristic returns it
    unchanged: use that for links that are already symmetrised."""

    name = "precomputed"

    def __init__(self, forward_path: str, reverse_path: Optional[str] = None, one_based: bool = False):
        self.forward_path = forward_path
        self.reverse_path = reverse_path
        self.one_based = one_based

    def align_directional(self, pairs: Sequence[Pair]) -> Directional:
        lengths = sentence_lengths(pairs)
        fwd = read_links(self.forward_path, self.one_based, lengths)
        rev = read_links(self.reverse_path, self.one_based, lengths) if self.reverse_path else fwd
        return fwd, rev

    def _align_nonempty(self, pairs) -> Directional:  # pragma: no cover - align_directional is overridden
        raise NotImplementedError
