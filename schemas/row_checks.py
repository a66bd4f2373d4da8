"""Checks of single rows that a schema cannot express: offsets inside their text, slices equal to the span
text, one tag per token, one answer per [QUE]. Each check returns the problems it found as short strings."""
from __future__ import annotations

import re
from typing import Any, Callable, Iterable

Row = dict[str, Any]

# Tag prefixes each scheme allows; "O" stands alone. IOB1 is only an input format (converted on import).
TAG_PREFIXES = {"BIOES": "BIES", "BIO": "BI"}
_TAG = re.compile(r"^(?:O|([A-Z])-(\S+))$")


def _span_problems(spans: Iterable[Row], text: str, what: str) -> list[str]:
    problems = []
    for n, span in enumerate(spans):
        start, end = span["start"], span["end"]
        if not 0 <= start < end <= len(text):
            problems.append(f"{what}[{n}] offsets [{start}, {end}) are outside the text (length {len(text)}) "
                            "or empty")
        elif "text" in span and text[start:end] != span["text"]:
            problems.append(f"{what}[{n}] text {span['text']!r} != slice [{start}, {end}) {text[start:end]!r}")
    return problems


def _word_problems(words: list[Row], text: str, what: str) -> list[str]:
    problems = _span_problems(words, text, what)
    for n in range(1, len(words)):
        if words[n]["start"] < words[n - 1]["end"]:
            problems.append(f"{what}[{n}] overlaps or precedes the word before it")
            break
    return problems


def check_mrc(row: Row, config: dict[str, Any]) -> list[str]:
    return _span_problems(row["answers"], row["context"], "answers")


def check_clism(row: Row, config: dict[str, Any]) -> list[str]:
    problems = _span_problems(row["source_spans"], row["source"], "source_spans")
    problems += _span_problems(row["answers"], row["target"], "answers")
    n_que = row["masked_source"].count(row["que_token"]) if row["que_token"] else -1
    if not (n_que == len(row["answers"]) == len(row["source_spans"])):
        problems.append(f"{n_que} {row['que_token']!r} tokens, {len(row['answers'])} answers and "
                        f"{len(row['source_spans'])} source spans: they must be equal")
    problems += _word_problems(row["source_words"], row["source"], "source_words")
    problems += _word_problems(row["target_words"], row["target"], "target_words")
    n_src, n_tgt = len(row["source_words"]), len(row["target_words"])
    bad = [link for link in row["alignment"] if not (0 <= link["src"] < n_src and 0 <= link["tgt"] < n_tgt)]
    if bad:
        problems.append(f"alignment link {bad[0]} is outside {n_src} source / {n_tgt} target words")
    return problems


def tag_sequence_problems(tags: list[str], scheme: str) -> list[str]:
    """Problems of a tag sequence under ``scheme`` (BIOES or BIO): unknown prefixes, and for BIOES the
    transitions a well-formed sequence cannot make (an I/E without an open entity of its type, an entity
    left open)."""
    prefixes = TAG_PREFIXES[scheme]
    open_type = None  # type of the BIOES entity that is open (after B or I)
    for n, tag in enumerate(tags):
        match = _TAG.match(tag)
        if match is None or (match.group(1) is not None and match.group(1) not in prefixes):
            return [f"tags[{n}] {tag!r} is not a {scheme} tag"]
        if scheme != "BIOES":
            continue
        prefix, type_ = match.group(1), match.group(2)
        if prefix in ("I", "E") and open_type != type_:
            return [f"tags[{n}] {tag!r} continues no open {type_} entity"]
        if prefix in (None, "B", "S") and open_type is not None:
            return [f"tags[{n}] {tag!r} follows an unfinished {open_type} entity"]
        open_type = type_ if prefix in ("B", "I") else None
    if open_type is not None:
        return [f"the sentence ends inside a {open_type} entity"]
    return []


def check_tagged(row: Row, config: dict[str, Any]) -> list[str]:
    problems = []
    if len(row["tokens"]) != len(row["tags"]):
        problems.append(f"{len(row['tokens'])} tokens but {len(row['tags'])} tags")
    empty = [n for n, token in enumerate(row["tokens"]) if not token or token.isspace()]
    if empty:
        problems.append(f"tokens[{empty[0]}] is empty or whitespace")
    problems += tag_sequence_problems(row["tags"], config.get("tag_scheme", "BIOES"))
    return problems


ROW_CHECKS: dict[str, Callable[[Row, dict[str, Any]], list[str]]] = {
    "mrc": check_mrc,
    "clism": check_clism,
    "tagged": check_tagged,
}
