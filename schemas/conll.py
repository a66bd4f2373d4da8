"""Reading and writing CoNLL column files: one token per line, columns separated by white space, a blank line
between sentences, ``-DOCSTART-`` lines between documents.

Both halves read these files (the label-projection pipeline its labelled source, the trainer its NER sets), so
the one reader lives beside the schemas. Real files have quirks: CoNLL-2002 is Latin-1, CoNLL-2003 tags IOB1,
and CoNLL-2002 Dutch has lines where byte 0x81 glued the word to its POS tag, leaving a column short. A short
line keeps its first column as the token and its last as the tag and is counted; a line with fewer than two
columns is an error naming the file and line.
"""
from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from typing import IO, Iterator, Sequence

from schemas.errors import UserError
from schemas.tags import convert_tags, parse_tag


class ConllError(UserError, ValueError):
    """Malformed CoNLL input; the message names the file and the line."""


@dataclass
class ConllSentence:
    tokens: list[str]
    tags: list[str]
    line: int  # 1-based line number of the sentence's first token in its file
    index: int  # 0-based sentence index in its file (DOCSTART lines are not sentences)


@dataclass
class ConllStats:
    """What reading a file met: sentences, tokens, documents, and lines with missing columns."""

    sentences: int = 0
    tokens: int = 0
    documents: int = 0
    short_lines: int = 0
    short_line_numbers: list[int] = field(default_factory=list)


def _parse(lines: Iterator[str], where: str, tag_column: int, token_column: int, tag_scheme: str | None,
           stats: ConllStats) -> Iterator[ConllSentence]:
    tokens: list[str] = []
    tags: list[str] = []
    first_line = 0
    width = None  # column count of the file, taken from its first token line

    def flush() -> Iterator[ConllSentence]:
        if tokens:
            out_tags = convert_tags(tags, tag_scheme) if tag_scheme else list(tags)
            yield ConllSentence(list(tokens), out_tags, first_line, stats.sentences)
            stats.sentences += 1
            stats.tokens += len(tokens)
            tokens.clear()
            tags.clear()

    for number, raw in enumerate(lines, start=1):
        columns = raw.split()
        if not columns:
            yield from flush()
            continue
        if columns[0] == "-DOCSTART-":
            yield from flush()
            stats.documents += 1
            continue
        if len(columns) < 2:
            raise ConllError(f"{where}:{number}: expected a token and a tag, found {raw.rstrip()!r}")
        width = width or len(columns)
        if len(columns) < width:
            stats.short_lines += 1
            if len(stats.short_line_numbers) < 20:
                stats.short_line_numbers.append(number)
            token, tag = columns[0], columns[-1]
        else:
            try:
                token, tag = columns[token_column], columns[tag_column]
            except IndexError:
                raise ConllError(f"{where}:{number}: no column {tag_column} in {raw.rstrip()!r}") from None
        if not tokens:
            first_line = number
        tokens.append(token)
        tags.append(tag)
        try:
            parse_tag(tag)  # a malformed tag is reported here, where its line number is known
        except ValueError as err:
            raise ConllError(f"{where}:{number}: {err}") from None
    yield from flush()


def read_conll(source: str | os.PathLike | IO[str], tag_column: int = -1, token_column: int = 0,
               encoding: str = "utf-8", tag_scheme: str | None = "BIOES", name: str | None = None,
               stats: ConllStats | None = None) -> Iterator[ConllSentence]:
    """Sentences of a CoNLL file (a path, or an open text or binary stream).

    ``tag_scheme`` re-tags every sentence in BIO or BIOES whatever the file uses (IOB1, BIO, BIOES); ``None``
    keeps the tags as written. Pass a ``ConllStats`` to learn what was read. A byte sequence invalid in
    ``encoding`` is an error naming the file and line (CoNLL-2002 needs ``encoding="latin-1"``).
    """
    stats = stats if stats is not None else ConllStats()
    if isinstance(source, (str, os.PathLike)):
        where = name or os.fspath(source)
        with open(source, "rb") as handle:
            yield from _parse(_decoded_lines(handle, encoding, where), where, tag_column, token_column,
                              tag_scheme, stats)
    elif isinstance(source, io.TextIOBase):
        yield from _parse(iter(source), name or getattr(source, "name", "<stream>"), tag_column, token_column,
                          tag_scheme, stats)
    else:  # a binary stream, such as Beam's FileSystems.open() gives
        where = name or getattr(source, "name", "<stream>")
        yield from _parse(_decoded_lines(source, encoding, where), where, tag_column, token_column, tag_scheme,
                          stats)


def _decoded_lines(handle: IO[bytes], encoding: str, where: str) -> Iterator[str]:
    for number, raw in enumerate(handle, start=1):
        try:
            yield raw.decode(encoding)
        except UnicodeDecodeError as err:
            raise ConllError(f"{where}:{number}: byte {raw[err.start:err.start + 1]!r} at column {err.start + 1} "
                             f"is not valid {encoding}; pass the file's encoding (e.g. latin-1)") from None


def write_conll(sentences: Sequence[tuple[Sequence[str], Sequence[str]]], out: IO[str] | None = None) -> str:
    """``token<TAB>tag`` lines with a blank line after each sentence; returns the text when ``out`` is None."""
    buffer = out if out is not None else io.StringIO()
    for tokens, tags in sentences:
        if len(tokens) != len(tags):
            raise ValueError(f"{len(tokens)} tokens but {len(tags)} tags")
        for token, tag in zip(tokens, tags):
            buffer.write(f"{token}\t{tag}\n")
        buffer.write("\n")
    return buffer.getvalue() if out is None else ""
