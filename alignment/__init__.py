"""polyspan's word-alignment layer: aligners, symmetrisation, span mapping, Pharaoh I/O and AER.

Plain Python (+ eflomal, which brings numpy, and ``schemas.errors`` for the base of its errors); no Beam, torch
or spaCy, so Beam workers import it cheaply.

    from alignment import make_aligner, map_span
    links = make_aligner("eflomal").align([(["a", "cat"], ["un", "chat"])])[0]   # [(0, 0), (1, 1)]
    map_span(links, 1, 2)                                                       # (1, 2)

Conventions: links are 0-based ``(source, target)`` tuples; spans are word ``[start, end)``.
"""
from __future__ import annotations

from .base import Aligner, clean_tokens
from .corpus import read_joint, read_parallel, sentence_lengths
from .eflomal_aligner import EflomalAligner, eflomal_iterations, estimate_priors, priors_from_links
from .errors import AlignerFailedError, AlignmentError, BinaryNotFoundError, InputError
from .evaluate import AlignmentScores, score_alignments
from .fast_align import FastAlignAligner
from .giza import GizaAligner, parse_a3
from .pharaoh import (GoldAlignment, Link, format_links, parse_gold, parse_links, read_gold, read_links,
                      write_links)
from .precomputed import PrecomputedAligner
from .registry import ALIGNERS, DEFAULT_ALIGNER, TEXT_ALIGNERS, canonical_aligner, make_aligner
from .span_mapping import map_span, map_words
from .symmetrize import DEFAULT_HEURISTIC, HEURISTICS, canonical_heuristic, symmetrize, symmetrize_all

__all__ = [
    "ALIGNERS", "Aligner", "AlignerFailedError", "AlignmentError", "AlignmentScores", "BinaryNotFoundError",
    "DEFAULT_ALIGNER", "DEFAULT_HEURISTIC", "EflomalAligner", "FastAlignAligner", "GizaAligner",
    "GoldAlignment", "HEURISTICS", "InputError", "Link", "PrecomputedAligner", "TEXT_ALIGNERS",
    "canonical_aligner", "canonical_heuristic", "clean_tokens", "eflomal_iterations", "estimate_priors",
    "format_links", "make_aligner", "map_span", "map_words", "parse_a3", "parse_gold", "parse_links",
    "priors_from_links", "read_gold", "read_joint", "read_links", "read_parallel", "score_alignments",
    "sentence_lengths", "symmetrize", "symmetrize_all", "write_links",
]
