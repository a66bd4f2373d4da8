"""Tag schemes of CoNLL-style tagging data: reading entity spans out of tag sequences and writing them back.

Schemes: ``IOB1`` (CoNLL-2003: ``B-`` only between two adjacent entities of one type), ``BIO`` (IOB2:
every entity starts with ``B-``) and ``BIOES`` (the shards' default, paper 002 §2.2). Spans are read with
conlleval's chunk rules, so a sequence in any of the three schemes — or an ill-formed one, such as an ``I-``
after ``O`` — yields the entities the CoNLL scorer would count.
"""
from __future__ import annotations

from typing import NamedTuple

SCHEMES = ("IOB1", "BIO", "BIOES")


class Span(NamedTuple):
    """Tokens ``[start, end)`` form one entity of type ``label``."""

    start: int
    end: int
    label: str


def parse_tag(tag: str) -> tuple[str, str]:
    if tag == "O" or not tag:
        return "O", ""
    prefix, _, label = tag.partition("-")
    if not label or prefix not in ("B", "I", "E", "S"):
        raise ValueError(f"malformed tag {tag!r}: expected O or one of B-, I-, E-, S- and a type")
    return prefix, label


def _starts(prev: tuple[str, str], cur: tuple[str, str]) -> bool:
    (pp, pl), (cp, cl) = prev, cur
    if cp in ("B", "S"):
        return True
    if cp in ("I", "E"):
        return pp in ("O", "E", "S") or pl != cl
    return False


def _ends(cur: tuple[str, str], nxt: tuple[str, str]) -> bool:
    (cp, cl), (np_, nl) = cur, nxt
    if cp in ("E", "S"):
        return True
    if cp in ("B", "I"):
        return np_ in ("O", "B", "S") or nl != cl
    return False


def spans_from_tags(tags: list[str]) -> list[Span]:
    """The entities of a tag sequence in any of the three schemes (conlleval's chunk boundaries)."""
    parsed = [parse_tag(tag) for tag in tags] + [("O", "")]
    spans, start, prev = [], None, ("O", "")
    for n, cur in enumerate(parsed[:-1]):
        if cur[0] != "O" and _starts(prev, cur):
            start = n
        if start is not None and _ends(cur, parsed[n + 1]):
            spans.append(Span(start, n + 1, cur[1]))
            start = None
        prev = cur
    return spans


def tags_from_spans(length: int, spans: list[Span], scheme: str = "BIOES") -> list[str]:
    """Tags for ``length`` tokens with the given non-overlapping ``spans``, in ``scheme`` (BIO or BIOES)."""
    if scheme not in ("BIO", "BIOES"):
        raise ValueError(f"cannot write tag scheme {scheme!r}; choose BIO or BIOES")
    tags = ["O"] * length
    for start, end, label in sorted(spans):
        if not 0 <= start < end <= length:
            raise ValueError(f"span [{start}, {end}) is outside a sentence of {length} tokens")
        if any(tag != "O" for tag in tags[start:end]):
            raise ValueError(f"span [{start}, {end}) {label} overlaps another span")
        if scheme == "BIOES" and end - start == 1:
            tags[start] = f"S-{label}"
            continue
        tags[start] = f"B-{label}"
        for n in range(start + 1, end):
            tags[n] = f"I-{label}"
        if scheme == "BIOES":
            tags[end - 1] = f"E-{label}"
    return tags


def convert_tags(tags: list[str], scheme: str = "BIOES") -> list[str]:
    """Re-tag a sequence (IOB1, BIO or BIOES, also ill-formed) in ``scheme``, keeping its entities."""
    return tags_from_spans(len(tags), spans_from_tags(tags), scheme)
