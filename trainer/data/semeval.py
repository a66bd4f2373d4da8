"""SemEval ABSA XML (2014 aspect terms and 2016 opinions) read into sentences with aspect spans and polarities;
skipped opinions counted."""
from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, fields

from schemas.errors import UserError
from schemas.tags import Span, tags_from_spans

POLARITIES = {"positive": "POS", "negative": "NEG", "neutral": "NEU"}


class AbsaDataError(UserError, ValueError):
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


def word_tagged(sentence: dict, scheme: str = "BIOES") -> dict:
    """A SemEval sentence as a tagged row (paper 002's ABSA form): white-space words, each aspect term's words
    tagged with its polarity (``B-POS`` ... ``E-POS``, ``S-NEG``, ...). ``char_offsets`` map the words back."""
    words = [(m.start(), m.end()) for m in re.finditer(r"\S+", sentence["text"])]
    spans = []
    for aspect in sentence["aspects"]:
        covered = [n for n, (start, end) in enumerate(words) if start < aspect["end"] and aspect["start"] < end]
        if covered:
            spans.append(Span(covered[0], covered[-1] + 1, aspect["polarity"]))
    # Overlapping aspects (rare) keep the first: a tagging holds one label per word.
    kept, taken = [], set()
    for span in sorted(spans):
        if not taken & set(range(span.start, span.end)):
            kept.append(span)
            taken |= set(range(span.start, span.end))
    return {"id": sentence["id"], "lang": sentence["lang"], "tokens": [sentence["text"][a:b] for a, b in words],
            "tags": tags_from_spans(len(words), kept, scheme), "char_offsets": words}
