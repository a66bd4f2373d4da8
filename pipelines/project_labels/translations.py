"""Reading the inputs of label projection: the labelled source (CoNLL), its translations, extra parallel text.

Every reader takes a path on any Beam filesystem and yields records keyed by their 0-based sentence (line)
index, the key the pipeline joins on. Errors name the file and line.
"""
from __future__ import annotations

import html
import itertools
from dataclasses import dataclass
from functools import partial
from typing import IO, Iterator

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from pipelines.project_labels.config import INPUT_SCHEMES, ExtraFilter
from pipelines.tokenize import words
from schemas.conll import ConllError, ConllStats, open_conll_file, read_conll
from schemas.errors import InputDataError, UsageError
from schemas.row_checks import tag_sequence_problems
from schemas.tags import Span, spans_from_tags

# CoNLL files are opened uncompressed and decompressed by schemas.conll, which reports a cut .gz/.bz2 (Beam's
# own reader stops at the cut as if the file ended there).
_STORED_BYTES = partial(FileSystems.open, compression_type=CompressionTypes.UNCOMPRESSED)

@dataclass(frozen=True)
class SourceSentence:
    """One labelled source sentence: its words, gold tags as written, and the entity spans they hold."""

    index: int  # 0-based sentence index in the source file (DOCSTART lines are not sentences)
    line: int  # 1-based line of its first token
    tokens: tuple[str, ...]
    tags: tuple[str, ...]
    spans: tuple[Span, ...]


def check_scheme(tags: list[str], scheme: str, where: str) -> None:
    """Refuse tags that ``scheme`` cannot write (``auto`` accepts IOB1, BIO and BIOES alike: spans are read
    with conlleval's chunk rules, which give every scheme's entities)."""
    if scheme in ("iob1", "bio"):
        bad = next((tag for tag in tags if tag[:2] in ("E-", "S-")), None)
        if bad is not None:
            raise ConllError(f"{where}: tag {bad!r} is not a {scheme.upper()} tag (pass --input-scheme bioes "
                             "or auto)")
    elif scheme == "bioes":
        problems = tag_sequence_problems(tags, "BIOES")
        if problems:
            raise ConllError(f"{where}: not well-formed BIOES: {problems[0]} (pass --input-scheme auto to read "
                             "it with conlleval's rules)")
    elif scheme != "auto":
        raise UsageError(f"unknown input scheme {scheme!r}; choose one of {', '.join(INPUT_SCHEMES)}")


def read_source(path: str, encoding: str = "utf-8", tag_column: int = -1, input_scheme: str = "auto",
                stats: ConllStats | None = None) -> Iterator[SourceSentence]:
    """The labelled sentences of a CoNLL file, tags kept as written, with their entity spans."""
    stats = stats if stats is not None else ConllStats()
    with open_conll_file(path, _STORED_BYTES) as handle:
        for sentence in read_conll(handle, tag_column=tag_column, encoding=encoding, tag_scheme=None, name=path,
                                   stats=stats):
            check_scheme(sentence.tags, input_scheme, f"{path}:{sentence.line}")
            yield SourceSentence(sentence.index, sentence.line, tuple(sentence.tokens), tuple(sentence.tags),
                                 tuple(spans_from_tags(sentence.tags)))


def numbered_lines(handle: IO[bytes], path: str) -> Iterator[tuple[int, str]]:
    """(0-based line index, text without its newline) of a UTF-8 file; bad bytes are an error naming the line."""
    for number, raw in enumerate(handle, start=1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            raise InputDataError(f"{path}:{number}: byte {raw[err.start:err.start + 1]!r} at column {err.start + 1} "
                                 "is not valid UTF-8 (translations must be UTF-8)") from None
        yield number - 1, text.rstrip("\r\n")


def tokenize_translation(text: str, lang: str, pretokenized: bool) -> tuple[str, ...]:
    """A translation's words: its whitespace-separated tokens kept exactly (``pretokenized``), or the
    foundation's word tokeniser for ``lang``."""
    if pretokenized:
        return tuple(text.split())
    return tuple(word for word, _, _ in words(text, lang))


def read_lines(path: str) -> Iterator[tuple[int, str]]:
    """(0-based line index, text) of a translations file (one sentence per line, in source order)."""
    with FileSystems.open(path) as handle:
        yield from numbered_lines(handle, path)


def count_lines(path: str) -> int:
    """Lines of a text file (a last line without a newline counts)."""
    with FileSystems.open(path) as handle:
        return sum(1 for _ in handle)


def count_sentences(path: str, encoding: str, tag_column: int) -> int:
    """Sentences of a CoNLL file."""
    stats = ConllStats()
    with open_conll_file(path, _STORED_BYTES) as handle:
        for _ in read_conll(handle, tag_column=tag_column, encoding=encoding, tag_scheme=None, name=path,
                            stats=stats):
            pass
    return stats.sentences


def unescape_moses(token: str) -> str:
    """Undo Moses' HTML escaping (``&apos;`` ``&quot;`` ``&amp;`` ``&lt;`` ``&gt;`` ``&#124;`` ``&#91;`` ...)."""
    return html.unescape(token) if "&" in token else token


def read_extra_parallel(src_path: str, tgt_path: str) -> Iterator[tuple[int, tuple[str, ...], tuple[str, ...]]]:
    """(line index, source words, target words) of two tokenised files parallel by line, Moses escapes undone.
    Files of different lengths are an error naming both and their line counts."""
    n_src = n_tgt = 0
    with FileSystems.open(src_path) as src_handle, FileSystems.open(tgt_path) as tgt_handle:
        both = itertools.zip_longest(numbered_lines(src_handle, src_path), numbered_lines(tgt_handle, tgt_path))
        for src, tgt in both:
            n_src, n_tgt = n_src + (src is not None), n_tgt + (tgt is not None)
            if src is not None and tgt is not None:
                yield (src[0], tuple(unescape_moses(t) for t in src[1].split()),
                       tuple(unescape_moses(t) for t in tgt[1].split()))
    if n_src != n_tgt:
        raise InputDataError(f"extra parallel files differ in length: {src_path} has {n_src} lines, "
                             f"{tgt_path} has {n_tgt}")
