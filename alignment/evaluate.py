"""Alignment quality against gold links: precision, recall and AER (Och & Ney 2003).

With predicted links A, sure gold links S and possible gold links P ⊇ S, summed over the corpus:
precision = |A∩P| / |A|, recall = |A∩S| / |S|, AER = 1 - (|A∩S| + |A∩P|) / (|A| + |S|).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

from .pharaoh import GoldAlignment, Link


@dataclass(frozen=True)
class AlignmentScores:
    """Corpus-level scores and the counts they come from (so results can be pooled or checked)."""

    precision: float
    recall: float
    aer: float
    n_predicted: int
    n_sure: int
    n_predicted_sure: int      # |A ∩ S|
    n_predicted_possible: int  # |A ∩ P|

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def score_alignments(predicted: Sequence[Iterable[Link]], gold: Sequence[GoldAlignment]) -> AlignmentScores:
    """Score predicted links (one iterable per sentence pair) against gold alignments of the same pairs."""
    if len(predicted) != len(gold):
        raise ValueError(f"{len(predicted)} predicted alignments but {len(gold)} gold ones")
    n_a = n_s = a_s = a_p = 0
    for links, g in zip(predicted, gold):
        a = set(links)
        n_a += len(a)
        n_s += len(g.sure)
        a_s += len(a & g.sure)
        # P ⊇ S is enforced by GoldAlignment's parser; union here keeps hand-built gold correct too.
        a_p += len(a & (g.possible | g.sure))
    precision = a_p / n_a if n_a else 0.0
    recall = a_s / n_s if n_s else 0.0
    aer = 1.0 - (a_s + a_p) / (n_a + n_s) if (n_a + n_s) else 0.0
    return AlignmentScores(precision, recall, aer, n_a, n_s, a_s, a_p)
