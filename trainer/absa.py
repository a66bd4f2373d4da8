"""Aspect-based sentiment analysis (SemEval) as MRC with polarity queries (paper 001 Table 6).

Reader: SemEval XML - the 2014 layout (``<sentence><text/><aspectTerms><aspectTerm term polarity from
to/>``) and the 2016 layout paper 001 evaluates (``<sentence><text/><Opinions><Opinion target polarity from
to/>``). An opinion on an implicit target (``target="NULL"``), a ``conflict`` polarity (the usual practice
drops it), and a repeat of the same target and polarity (2016 lists one per aspect category) are skipped
and counted. An offset that does not point at its term is an error naming the file and sentence.

MRC form: one query per polarity (``"POS". For aspect terms of positive sentiment.`` ...), the sentence as
context, its aspect terms of that polarity as answers; decoding takes every span with S_ij > 0
(``trainer.qa_decoding.positive_spans``) and scores ``(term span, polarity)`` pairs by exact match.
"""
from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass, fields
from typing import Sequence

import numpy as np

from schemas.tags import Span
from trainer.qa_decoding import positive_spans

POLARITIES = {"positive": "POS", "negative": "NEG", "neutral": "NEU"}
# Paper 001 Table 6.
ABSA_QUERIES = {
    "POS": '"POS". For aspect terms of positive sentiment.',
    "NEG": '"NEG". For aspect terms of negative sentiment.',
    "NEU": '"NEU". For aspect terms of neutral sentiment.',
}


class AbsaDataError(ValueError):
    """Malformed SemEval input; the message names the file and sentence."""


@dataclass
class AbsaReadStats:
    sentences: int = 0
    aspects: int = 0
    skipped_implicit: int = 0
    skipped_conflict: int = 0
    skipped_duplicate: int = 0

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def read_semeval_xml(path: str | os.PathLike, lang: str, stats: AbsaReadStats | None = None) -> list[dict]:
    """Sentences ``{"id", "lang", "text", "aspects": [{"text", "start", "end", "polarity"}]}`` (polarity as
    POS/NEG/NEU) of a SemEval 2014 or 2016 ABSA file."""
    stats = stats if stats is not None else AbsaReadStats()
    where = os.fspath(path)
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as err:
        line, column = err.position
        raise AbsaDataError(f"{where}:{line}:{column}: not well-formed XML") from None
    rows = []
    for n, sentence in enumerate(root.iter("sentence")):
        sentence_id = sentence.get("id") or str(n)
        text_element = sentence.find("text")
        if text_element is None or text_element.text is None:
            raise AbsaDataError(f"{where}: sentence {sentence_id!r}: no <text>")
        text = text_element.text
        aspects, seen = [], set()
        for element in [*sentence.iter("aspectTerm"), *sentence.iter("Opinion")]:
            term = element.get("term", element.get("target"))
            polarity = element.get("polarity")
            if term is None or polarity is None:
                raise AbsaDataError(f"{where}: sentence {sentence_id!r}: <{element.tag}> without a term/target "
                                    "or polarity")
            if term == "NULL":
                stats.skipped_implicit += 1
                continue
            if polarity == "conflict":
                stats.skipped_conflict += 1
                continue
            if polarity not in POLARITIES:
                raise AbsaDataError(f"{where}: sentence {sentence_id!r}: unknown polarity {polarity!r}")
            try:
                start, end = int(element.get("from")), int(element.get("to"))
            except (TypeError, ValueError):
                raise AbsaDataError(f"{where}: sentence {sentence_id!r}: aspect {term!r} has no integer "
                                    "from/to offsets") from None
            if text[start:end] != term:
                raise AbsaDataError(f"{where}: sentence {sentence_id!r}: aspect {term!r} is not at [{start}, "
                                    f"{end}) (the text there reads {text[start:end]!r})")
            key = (start, end, POLARITIES[polarity])
            if key in seen:
                stats.skipped_duplicate += 1
                continue
            seen.add(key)
            aspects.append({"text": term, "start": start, "end": end, "polarity": POLARITIES[polarity]})
        stats.sentences += 1
        stats.aspects += len(aspects)
        rows.append({"id": sentence_id, "lang": lang, "text": text, "aspects": aspects})
    return rows


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
