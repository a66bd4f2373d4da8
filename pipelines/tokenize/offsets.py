"""Character offsets for tokenizer output.

Several backends (Sacremoses, PyThaiNLP, spaCy's Korean tokenizer) return token *strings* only, and some of
them rebuild the text in a way that no longer matches the input (MeCab collapses runs of whitespace, Moses
deletes ASCII control characters). Everything downstream (answer spans, entity anchors) needs offsets into
the exact input text, so this module places token strings back onto the text, and it refuses to guess: a
token that is not where it should be is an error that names the text position.

It also holds the two other offset-level helpers every backend shares: cutting long texts into pieces a
backend can digest, and gluing a detached combining mark back onto its base character.
"""
from __future__ import annotations

import re
import unicodedata
from typing import Iterable, List, Tuple

from schemas.errors import UserError

Word = Tuple[str, int, int]

# Unicode sentence terminators we may cut after when a very long line has no whitespace to cut at
# (Chinese / Japanese / Thai paragraphs). Cutting there never splits a word.
_SENTENCE_ENDS = frozenset(".!?。！？｡;；\u0e2f\u0964\u0965\u06d4\u061f")


class AlignmentError(UserError, ValueError):
    """A token string could not be placed on the text it was produced from."""

    def __init__(self, message: str, position: int):
        super().__init__(message)
        self.position = position


def is_ignorable(char: str) -> bool:
    """True for characters that carry no visible text: whitespace, controls (Cc) and format characters (Cf,
    e.g. zero-width space, BOM, soft hyphen, bidi marks). Tokenizers may drop these between tokens, and a
    token made only of them is not a word."""
    if char.isalnum():  # fast path: the overwhelming majority of characters asked about
        return False
    return char.isspace() or unicodedata.category(char) in ("Cc", "Cf")


def is_blank(token: str) -> bool:
    """True when the token has no visible character (empty, whitespace, controls, format characters)."""
    return all(is_ignorable(c) for c in token)


def _context(text: str, position: int, width: int = 20) -> str:
    return repr(text[max(0, position - width): position + width])


def align(text: str, tokens: Iterable[str], offset: int = 0) -> List[Word]:
    """Place `tokens` (in order) onto `text` and return `(token, start, end)` for every non-blank token, with
    offsets shifted by `offset` (so a piece of a longer text can report offsets into the whole text).

    Between two tokens only ignorable characters (see `is_ignorable`) may be skipped; anything else means the
    tokenizer changed or dropped visible text, and rather than silently losing it we raise `AlignmentError`
    naming the position. Text left after the last token is checked the same way. Blank tokens (whitespace
    that a tokenizer reports as a token, possibly normalised) are not words and are skipped, not aligned.
    """
    found: List[Word] = []
    cursor = 0
    size = len(text)
    for index, token in enumerate(tokens):
        if is_blank(token):
            continue
        start = cursor
        # The earliest match wins: a token may itself begin with an ignorable character (PyThaiNLP keeps a
        # zero-width space on the front of the following word).
        while not text.startswith(token, start):
            if start >= size or not is_ignorable(text[start]):
                raise AlignmentError(
                    f"cannot locate token #{index} {token!r} at text position {start + offset}: "
                    f"the text there is {_context(text, start)}; the tokenizer changed or dropped characters",
                    start + offset)
            start += 1
        end = start + len(token)
        found.append((token, start + offset, end + offset))
        cursor = end
    rest = text[cursor:]
    if not is_blank(rest):
        first = cursor + next(i for i, c in enumerate(rest) if not is_ignorable(c))
        raise AlignmentError(
            f"the tokenizer dropped text at position {first + offset}: {_context(text, first)} "
            "is not covered by any token", first + offset)
    return found


# Characters that separate words but that some tokenizers do not treat as spaces: Moses deletes ASCII
# controls (tabs and newlines included, so "a\nb" would become the non-word "ab"); PyThaiNLP glues a
# no-break, thin or ideographic space, or a zero-width space (used in Thai text to mark word breaks) onto the
# next non-Thai word. Each is one code point, so replacing it by one space keeps every offset valid.
_SEPARATORS = re.compile(r"[\s\x00-\x1f\x7f-\x9f\u200b]")


def with_plain_spaces(text: str) -> str:
    """`text` with every whitespace, control or zero-width-space character replaced by " " (same length)."""
    return _SEPARATORS.sub(" ", text)


def trim(words: Iterable[Word]) -> List[Word]:
    """Strip ignorable characters (see `is_ignorable`) from both ends of each word, moving its offsets, and
    drop words that had nothing else. A tokenizer may hand back a word with a leading zero-width space or a
    trailing BOM; they are not part of the word, and a span boundary should not depend on them."""
    trimmed: List[Word] = []
    for token, start, end in words:
        if not is_ignorable(token[0]) and not is_ignorable(token[-1]):
            trimmed.append((token, start, end))
            continue
        left, right = 0, len(token)
        while left < right and is_ignorable(token[left]):
            left += 1
        while right > left and is_ignorable(token[right - 1]):
            right -= 1
        if left < right:
            trimmed.append((token[left:right], start + left, start + right))
    return trimmed


def merge_detached_marks(text: str, words: List[Word]) -> List[Word]:
    """Glue a word that starts with a combining mark onto the word right before it.

    Moses and PyThaiNLP treat a combining mark (an accent typed as e + U+0301, a Thai tone mark after an
    unusual base) as punctuation and cut it off. A word can never begin with a combining mark, so when the two
    pieces touch the cut is always wrong; when a space separates them we keep them apart (the mark is then
    really on its own in the text)."""
    merged: List[Word] = []
    for word in words:
        token, start, end = word
        if (merged and unicodedata.category(token[0]).startswith("M") and merged[-1][2] == start):
            _, previous_start, _ = merged.pop()
            word = (text[previous_start:end], previous_start, end)
        merged.append(word)
    return merged


def pieces(text: str, max_chars: int) -> List[Tuple[int, int]]:
    """Cut `text` into consecutive `[start, end)` pieces of at most `max_chars` characters that together
    cover the text, so backends with an input limit (SudachiPy refuses more than 49,149 UTF-8 bytes) or a
    per-call memory cost never see a whole Wikipedia article at once.

    Cuts are made where they cannot split a word: after the last newline in the window, else after the last
    whitespace, else after the last sentence terminator; only a window with none of these (a 100k-character
    run of letters) is cut hard, and even then never in front of a combining mark."""
    if max_chars < 1:
        raise ValueError(f"max_chars must be positive, got {max_chars}")
    spans: List[Tuple[int, int]] = []
    start = 0
    size = len(text)
    while size - start > max_chars:
        limit = start + max_chars
        cut = text.rfind("\n", start, limit) + 1
        if cut <= start:
            cut = next((i + 1 for i in range(limit - 1, start - 1, -1) if text[i].isspace()), 0)
        if cut <= start:
            cut = next((i + 1 for i in range(limit - 1, start - 1, -1) if text[i] in _SENTENCE_ENDS), 0)
        if cut <= start:
            cut = limit
            while cut > start + 1 and unicodedata.category(text[cut]).startswith("M"):
                cut -= 1
        spans.append((start, cut))
        start = cut
    if start < size or not spans:
        spans.append((start, size))
    return spans
