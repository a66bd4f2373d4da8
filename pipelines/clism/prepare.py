"""Cleaning and word-tokenising a sentence pair: HTML entities, surrounding white space, empty and over-long
sentences, and the words (as character offsets) that NER, the aligner and the rows share.

Every pair that cannot be used is dropped under a named reason; nothing is truncated (a cut translation is no
longer a translation of its source).
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Callable, Optional

from pipelines.clism.parallel_input import RawPair
from pipelines.tokenize import words as tokenize_words

# An HTML/XML character reference: &apos; &amp; &#39; &#x27; (WMT and other crawled corpora are escaped).
_ENTITY = re.compile(r"&(?:#[0-9]+|#[xX][0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]*);")
_NON_SPACE = re.compile(r"\S+")

Words = tuple[tuple[int, int], ...]
WordSpan = tuple[int, int, Optional[str]]  # word [start, end) and a label (None when the source has none)
Drop = Callable[[str, int], None]


@dataclass(frozen=True)
class PrepareOptions:
    """How sentences are cleaned and split into words."""

    html_unescape: bool = True
    pretokenized: bool = False  # words are the whitespace-separated tokens (Moses-tokenised input)
    max_words: int = 100
    max_chars: int = 1000
    que_token: str = "[QUE]"


@dataclass(frozen=True)
class PreparedPair:
    """A cleaned pair with its words. ``spans`` are source word spans: ``None`` until NER has run, ``()``
    when the source has none."""

    key: str
    group: str
    src_lang: str
    tgt_lang: str
    corpus: str
    line: int
    source: str
    target: str
    source_words: Words
    target_words: Words
    align_only: bool = False
    spans: tuple[WordSpan, ...] | None = None

    def source_tokens(self) -> tuple[str, ...]:
        return tuple(self.source[a:b] for a, b in self.source_words)

    def target_tokens(self) -> tuple[str, ...]:
        return tuple(self.target[a:b] for a, b in self.target_words)


def unescape(text: str) -> tuple[str, bool]:
    """``text`` with HTML character references replaced, and whether there were any."""
    if "&" in text and _ENTITY.search(text):
        return html.unescape(text), True
    return text, False


def whitespace_words(text: str) -> Words:
    return tuple((m.start(), m.end()) for m in _NON_SPACE.finditer(text))


def tokenize(text: str, lang: str, pretokenized: bool) -> Words:
    if pretokenized:
        return whitespace_words(text)
    return tuple((start, end) for _, start, end in tokenize_words(text, lang))


def _join_tokens(tokens: tuple[str, ...]) -> tuple[str, Words]:
    """CoNLL tokens → the sentence they spell with single spaces, and each token's offsets in it."""
    offsets, position = [], 0
    for token in tokens:
        offsets.append((position, position + len(token)))
        position += len(token) + 1
    return " ".join(tokens), tuple(offsets)


def prepare_pair(raw: RawPair, options: PrepareOptions, drop: Drop,
                 count: Callable[[str, int], None] = lambda name, value: None) -> PreparedPair | None:
    """The cleaned, tokenised pair, or None after ``drop(reason, 1)``."""
    def unescaped(texts: tuple[str, ...], side: str) -> tuple[str, ...]:
        """``texts`` with HTML entities undone (when the options say so); a changed line is counted once."""
        if not options.html_unescape:
            return texts
        results = [unescape(text) for text in texts]
        if any(changed for _, changed in results):
            count(f"{side}_lines_html_unescaped", 1)
        return tuple(text for text, _ in results)

    target = unescaped((raw.target,), "target")[0].strip()
    if raw.source_tokens is not None:  # CoNLL source: its tokens are the words
        source, source_words = _join_tokens(unescaped(raw.source_tokens, "source"))
    else:
        source = unescaped((raw.source,), "source")[0].strip()
        source_words = None

    if not source or not target:
        drop("empty_pair" if not source and not target else "empty_source" if not source else "empty_target", 1)
        return None
    for side, text in (("source", source), ("target", target)):
        if len(text) > options.max_chars:
            drop(f"{side}_over_max_chars", 1)
            return None
        if options.que_token and options.que_token in text:
            # A literal [QUE] in the text would break "one que_token per answer" for this row.
            drop("que_token_in_text", 1)
            return None
    try:
        if source_words is None:
            source_words = tokenize(source, raw.src_lang, options.pretokenized)
        target_words = tokenize(target, raw.tgt_lang, options.pretokenized)
    except ValueError:
        drop("tokenizer_error", 1)
        return None
    for side, words in (("source", source_words), ("target", target_words)):
        if not words:
            drop(f"no_{side}_words", 1)
            return None
        if len(words) > options.max_words:
            drop(f"{side}_over_max_words", 1)
            return None
    return PreparedPair(raw.key, raw.group, raw.src_lang, raw.tgt_lang, raw.corpus, raw.line, source, target,
                        source_words, target_words, raw.align_only,
                        None if raw.gold_spans is None else tuple(raw.gold_spans))
