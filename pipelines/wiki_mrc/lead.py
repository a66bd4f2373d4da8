"""The lead's name parentheticals: what Wikipedia puts in brackets after the bold name of an article.

Leads in every language put the name's reading, transliteration, other-script or original-language form and
pronunciation in brackets right after the bold name: 兵庫県（ひょうごけん）は, "চিলি (স্পেনীয় ভাষায়: Chile চিলে)",
トルコ共和国（トルコきょうわこく、トルコ語: Türkiye Cumhuriyeti）, "officially the Principality of Andorra (Principat
d'Andorra)". No rule of the masker can match a name written in another script or as a reading, so the query
builder drops these groups (or masks their words, or keeps them: ``--lead-parenthetical``).

Which groups: the top-level bracket groups of the text's first sentence - the first one always (the convention
puts it right after the name), and each later one that follows a name match directly. The first sentence ends at
a full stop, ! or ? before whitespace, a CJK or Indic full stop, or a line break, outside brackets; an
abbreviation's dot ends it early, and then a group is kept (a miss, not a wrong drop).
"""
from __future__ import annotations

from typing import List, Sequence, Tuple

LEAD_PARENTHETICALS = ("drop", "mask", "keep")
DEFAULT_LEAD_PARENTHETICAL = "drop"
_OPENERS = {"(": ")", "（": "）"}
_CLOSERS = frozenset(_OPENERS.values())
_SENTENCE_ENDS = frozenset("。！？।॥\n")
MAX_PARENTHETICAL_CHARS = 600  # a group left open this long is unbalanced markup, not a parenthetical
# The head of the text searched for the first sentence's groups (and matched for names): first sentences are far
# shorter, and a longer one only keeps its groups past this point (a miss, not a wrong drop).
LEAD_CHARS = 2000

Span = Tuple[int, int]


def first_sentence_groups(text: str) -> List[Span]:
    """[start, end) of every top-level bracket group of ``text``'s first sentence, brackets included (nested
    groups inside one balanced: "(Ἀθῆναι (Athênai))"); a group that does not close ends the list."""
    groups: List[Span] = []
    depth = 0
    start = -1
    for i, char in enumerate(text):
        if depth == 0 and (char in _SENTENCE_ENDS
                           or (char in ".!?" and (i + 1 == len(text) or text[i + 1].isspace()))):
            break
        if char in _OPENERS:
            if depth == 0:
                start = i
            depth += 1
        elif char in _CLOSERS and depth:
            depth -= 1
            if depth == 0:
                groups.append((start, i + 1))
        if depth and i - start > MAX_PARENTHETICAL_CHARS:
            break
    return groups


def name_parentheticals(text: str, name_ends: Sequence[int]) -> List[Span]:
    """The groups of :func:`first_sentence_groups` that carry a name's other forms: the first, and each later
    one whose opening bracket follows (after whitespace only) one of ``name_ends``, the ends of name matches."""
    groups = first_sentence_groups(text)
    ends = set(name_ends)
    return groups[:1] + [g for g in groups[1:] if len(text[:g[0]].rstrip()) in ends]


_CLOSING_PUNCTUATION = frozenset(",.;:!?、，。；：！？")


def without_spans(text: str, spans: Sequence[Span]) -> str:
    """``text`` with ``spans`` (sorted, disjoint) cut out, the whitespace on the two sides of each joined, and none
    left before a comma or full stop that followed the span ("Andorra (Catalan: Andorra), officially" →
    "Andorra, officially")."""
    for start, end in reversed(spans):
        head, tail = text[:start], text[end:]
        if head[-1:].isspace() and tail[:1].isspace():
            tail = tail.lstrip()
        elif head[-1:].isspace() and tail[:1] in _CLOSING_PUNCTUATION:
            head = head.rstrip()
        text = head + tail
    return text
