"""Shared helpers of the external-aligner tests (no tests here)."""
from __future__ import annotations

from pathlib import Path

from alignment import read_gold, read_joint, sentence_lengths


def lowercased_enfr_gold(data_dir: Path) -> tuple[list, list]:
    """``(pairs, gold)`` of the 447 enfr gold sentence pairs with their words lower-cased, and the gold links
    (one-based in the file) checked against those pairs' lengths."""
    pairs = [([w.lower() for w in s], [w.lower() for w in t])
             for s, t in read_joint(data_dir / "align_gold" / "enfr.src-tgt")]
    gold = read_gold(data_dir / "align_gold" / "enfr.gold", one_based=True, lengths=sentence_lengths(pairs))
    return pairs, gold
