"""The aligner interface shared by every backend.

An aligner turns tokenised sentence pairs into forward and reverse links (0-based ``(i, j)``, source word
i, target word j, in source-target order in both directions, as atools expects), and symmetrises them.
Aligners are plain objects holding only options (strings, numbers, bytes), so they pickle cheaply into Beam
workers; all temporary files live inside one ``align_directional`` call.
"""
from __future__ import annotations

import abc
import re
from typing import List, Sequence, Tuple

from .errors import AlignerFailedError
from .pharaoh import Link
from .symmetrize import canonical_heuristic, symmetrize_all

Tokens = Sequence[str]
Pair = Tuple[Tokens, Tokens]
Directional = Tuple[List[List[Link]], List[List[Link]]]

# Stand-in for tokens the external tools would mis-read: a token holding whitespace (spaCy emits "\n"
# tokens), the empty string, or fast_align's '|||' separator. Replacing keeps word positions intact.
PLACEHOLDER = "<unk-token>"
_BAD_TOKEN = re.compile(r"\s|\|\|\||^$")


def clean_tokens(tokens: Tokens) -> List[str]:
    """Tokens safe to join with single spaces: one output token per input token, always."""
    return [PLACEHOLDER if _BAD_TOKEN.search(t) else t for t in tokens]


class Aligner(abc.ABC):
    """Base class. Subclasses implement ``_align_nonempty`` for pairs whose both sides have words."""

    name = "aligner"

    def align_directional(self, pairs: Sequence[Pair]) -> Directional:
        """Forward and reverse links, one list per pair. Pairs with an empty side get no links and are not
        passed to the backend (several backends reject them)."""
        keep = [k for k, (s, t) in enumerate(pairs) if len(s) and len(t)]
        fwd: List[List[Link]] = [[] for _ in pairs]
        rev: List[List[Link]] = [[] for _ in pairs]
        if keep:
            sub = [(clean_tokens(pairs[k][0]), clean_tokens(pairs[k][1])) for k in keep]
            sub_fwd, sub_rev = self._align_nonempty(sub)
            if len(sub_fwd) != len(sub) or len(sub_rev) != len(sub):
                raise AlignerFailedError(f"{self.name} returned {len(sub_fwd)}/{len(sub_rev)} alignments "
                                         f"for {len(sub)} sentence pairs")
            for k, f, r in zip(keep, sub_fwd, sub_rev):
                fwd[k], rev[k] = f, r
        return fwd, rev

    def align(self, pairs: Sequence[Pair], symmetrize: str = "grow-diag-final-and") -> List[List[Link]]:
        """Symmetrised links, one sorted list per pair."""
        heuristic = canonical_heuristic(symmetrize)  # fail before the (slow) alignment on a typo
        fwd, rev = self.align_directional(pairs)
        return symmetrize_all(fwd, rev, heuristic)

    @abc.abstractmethod
    def _align_nonempty(self, pairs: List[Tuple[List[str], List[str]]]) -> Directional:
        """Align pairs whose sides are non-empty lists of whitespace-free tokens."""
