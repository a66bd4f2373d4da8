"""The aligner interface shared by every backend.

An aligner turns tokenised sentence pairs into forward and reverse links (0-based ``(i, j)``, source word
i, target word j, in source-target order in both directions, as atools expects), and symmetrises them.
Aligners are plain objects holding only options (strings, numbers, bytes), so they pickle cheaply into Beam
workers; all temporary files live inside one ``align_directional`` call.
"""
from __future__ import annotations

import abc
import re
from typing import List, Optional, Sequence, Tuple

from .errors import AlignerFailedError
from .pharaoh import Link
from .symmetrize import DEFAULT_HEURISTIC, canonical_heuristic, symmetrize_all

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
    """Base class. Subclasses implement ``_align_nonempty`` for pairs whose both sides have words; those that
    can hand a trained model on (``shares_model``) also implement ``_train_nonempty`` and ``with_model``."""

    name = "aligner"
    # True when ``train`` returns a model that later aligns other pairs (``with_model``) at close to the
    # accuracy of aligning everything together: a Beam pipeline then aligns a sample on one worker and the
    # rest in parallel batches that share its model (eflomal: priors; fast_align: its parameter tables).
    shares_model = False

    def _on_nonempty(self, pairs: Sequence[Pair], run) -> Tuple[List[List[Link]], List[List[Link]], object]:
        """``run`` on the pairs with words on both sides (cleaned), results mapped back to every pair; pairs
        with an empty side get no links and are not passed to the backend (several backends reject them)."""
        keep = [k for k, (s, t) in enumerate(pairs) if len(s) and len(t)]
        fwd: List[List[Link]] = [[] for _ in pairs]
        rev: List[List[Link]] = [[] for _ in pairs]
        extra = None
        if keep:
            sub = [(clean_tokens(pairs[k][0]), clean_tokens(pairs[k][1])) for k in keep]
            sub_fwd, sub_rev, *rest = run(sub)
            extra = rest[0] if rest else None
            if len(sub_fwd) != len(sub) or len(sub_rev) != len(sub):
                raise AlignerFailedError(f"{self.name} returned {len(sub_fwd)}/{len(sub_rev)} alignments "
                                         f"for {len(sub)} sentence pairs")
            for k, f, r in zip(keep, sub_fwd, sub_rev):
                fwd[k], rev[k] = f, r
        return fwd, rev, extra

    def align_directional(self, pairs: Sequence[Pair]) -> Directional:
        """Forward and reverse links, one list per pair (an empty side: no links)."""
        fwd, rev, _ = self._on_nonempty(pairs, self._align_nonempty)
        return fwd, rev

    def align(self, pairs: Sequence[Pair], symmetrize: str = DEFAULT_HEURISTIC) -> List[List[Link]]:
        """Symmetrised links, one sorted list per pair."""
        heuristic = canonical_heuristic(symmetrize)  # fail before the (slow) alignment on a typo
        fwd, rev = self.align_directional(pairs)
        return symmetrize_all(fwd, rev, heuristic)

    def train(self, pairs: Sequence[Pair]) -> Tuple[List[List[Link]], List[List[Link]], bytes]:
        """Align ``pairs`` like ``align_directional`` and also return the trained model as bytes, for
        ``with_model`` (only when ``shares_model``)."""
        if not self.shares_model:
            raise NotImplementedError(f"the {self.name} aligner cannot hand a trained model on")
        fwd, rev, model = self._on_nonempty(pairs, self._train_nonempty)
        return fwd, rev, model if model is not None else b""

    def cannot_align(self, n_src: int, n_tgt: int) -> Optional[str]:
        """Why this aligner leaves a pair of these lengths (words on both sides) without links, as a counter
        name (e.g. GIZA's length limits), or None when it aligns it."""
        return None

    def with_model(self, model: bytes, corpus_size: int) -> "Aligner":
        """A copy of this aligner that aligns with ``model`` (from ``train``) instead of starting from nothing;
        ``corpus_size``: the pairs that model and all the batches using it stand for."""
        raise NotImplementedError(f"the {self.name} aligner cannot align with a trained model")

    @abc.abstractmethod
    def _align_nonempty(self, pairs: List[Tuple[List[str], List[str]]]) -> Directional:
        """Align pairs whose sides are non-empty lists of whitespace-free tokens."""

    def _train_nonempty(self, pairs: List[Tuple[List[str], List[str]]]):
        """(forward, reverse, model bytes) for pairs whose sides are non-empty lists of clean tokens."""
        raise NotImplementedError
