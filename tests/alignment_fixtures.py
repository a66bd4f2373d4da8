"""Shared helpers of the aligner tests and bench/aligners.py (no tests here)."""
from __future__ import annotations

from pathlib import Path

from alignment import read_gold, read_joint, sentence_lengths


def lowercased(pairs) -> list:
    """Sentence pairs with their words lower-cased (the external aligners' gold sets are scored lower-cased)."""
    return [([w.lower() for w in s], [w.lower() for w in t]) for s, t in pairs]


def gold_set(data_dir: Path, name: str = "enfr", lowercase: bool = False) -> tuple[list, list]:
    """``(pairs, gold)`` of an align_gold set (``enfr``: 447 pairs, ``roen``: 248), its words lower-cased when
    ``lowercase``, and the gold links (one-based in the file) checked against those pairs' lengths."""
    pairs = read_joint(data_dir / "align_gold" / f"{name}.src-tgt")
    if lowercase:
        pairs = lowercased(pairs)
    gold = read_gold(data_dir / "align_gold" / f"{name}.gold", one_based=True, lengths=sentence_lengths(pairs))
    return pairs, gold


def one_source_word_per_target(alignments) -> bool:
    """Whether every pair's links give each target word at most one source word (what a forward run yields)."""
    return all(len({j for _, j in links}) == len(links) for links in alignments)


def one_target_word_per_source(alignments) -> bool:
    """Whether every pair's links give each source word at most one target word (what a reverse run yields)."""
    return all(len({i for i, _ in links}) == len(links) for links in alignments)
