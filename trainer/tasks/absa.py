"""Aspect-based sentiment analysis (SemEval) as MRC with polarity queries (paper 001 Table 6).

Reader: SemEval XML - the 2014 layout (``<sentence><text/><aspectTerms><aspectTerm term polarity from
to/>``) and the 2016 layout paper 001 evaluates (``<sentence><text/><Opinions><Opinion target polarity from
to/>``). An opinion on an implicit target (``target="NULL"``), a ``conflict`` polarity (the usual practice
drops it), and a repeat of the same target and polarity (2016 lists one per aspect category) are skipped
and counted. An offset that does not point at its term is an error naming the file and sentence.

MRC form: one query per polarity (``"POS". For aspect terms of positive sentiment.`` ...), the sentence as
context, its aspect terms of that polarity as answers; decoding takes every span with S_ij > 0
(``trainer.tasks.span_decoding.positive_spans``) and scores ``(term span, polarity)`` pairs by exact match.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from schemas.tags import Span
from trainer.tasks.span_decoding import positive_spans

# Paper 001 Table 6.
ABSA_QUERIES = {
    "POS": '"POS". For aspect terms of positive sentiment.',
    "NEG": '"NEG". For aspect terms of negative sentiment.',
    "NEU": '"NEU". For aspect terms of neutral sentiment.',
}


def absa_mrc_rows(sentence: dict) -> list[dict]:
    """One MRC row per polarity (``id`` = ``<sentence id>/<polarity>``) with that polarity's aspects as
    answers."""
    return [{"id": f"{sentence['id']}/{polarity}", "lang": sentence["lang"], "query": query,
             "context": sentence["text"], "polarity": polarity,
             "answers": [{"text": a["text"], "start": a["start"], "end": a["end"]}
                         for a in sentence["aspects"] if a["polarity"] == polarity]}
            for polarity, query in ABSA_QUERIES.items()]


def gold_aspects(sentence: dict) -> set[Span]:
    """The sentence's ``(start, end, polarity)`` character spans, for ``metrics.span_scores``."""
    return {Span(a["start"], a["end"], a["polarity"]) for a in sentence["aspects"]}


def decode_absa(polarity_scores: Sequence[tuple[str, np.ndarray, object]], context: str | None = None,
                threshold: float = 0.0, max_span_length: int | None = None) -> set[Span]:
    """Aspects of one sentence from the extractor's scores of its polarity queries (``(polarity, [L, L]
    scores, MRCFeature)`` triples): every span with S_ij > ``threshold``; a span claimed by two polarities
    keeps the higher-scoring one. Pass the sentence as ``context`` to trim white space off the spans."""
    best: dict[tuple[int, int], tuple[float, str]] = {}
    for polarity, scores, feature in polarity_scores:
        for start, end, score in positive_spans(scores, feature, threshold, max_span_length, context):
            if (start, end) not in best or score > best[(start, end)][0]:
                best[(start, end)] = (score, polarity)
    return {Span(start, end, polarity) for (start, end), (_, polarity) in best.items()}
