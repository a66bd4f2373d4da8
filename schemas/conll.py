"""Reading and writing CoNLL column files: one token per line, columns separated by tabs or ASCII spaces, a
blank line between sentences, ``-DOCSTART-`` lines between documents.

The convention, exactly (what the reader does with each deviation is counted or an error, never silent):

- a line ends at LF, CRLF or a lone CR, and nowhere else: LF, CRLF and CR-only files give the same sentences,
  and U+2028, U+0085, form feeds and the like are characters of a token, not line ends;
- columns are separated by tabs and ASCII spaces only, so a token keeps a no-break space, an ideographic space
  (U+3000), a zero-width space or U+2028 inside it; such tokens are read and counted
  (``tokens_with_unicode_space``), since a user may not expect them;
- a blank line (nothing but tabs and spaces) ends a sentence; a line of other white space alone is a line with
  one column, an error;
- ``.gz`` and ``.bz2`` files are read compressed; a damaged or cut stream is an error naming the file and line;
- a file starting with a UTF-16/UTF-32 byte-order mark read as another encoding is an error telling which to
  pass; a UTF-8 byte-order mark is dropped.

Both halves read these files (the label-projection pipeline its labelled source, the trainer its NER sets), so
the one reader lives beside the schemas. Real files have quirks: CoNLL-2002 is Latin-1, CoNLL-2003 tags IOB1,
and CoNLL-2002 Dutch has lines where byte 0x81 glued the word to its POS tag, leaving a column short. A short
line keeps its first column as the token and its last as the tag and is counted; a line with fewer than two
columns is an error naming the file and line.
"""
from __future__ import annotations

import bz2
import codecs
import contextlib
import gzip
import io
import os
import re
import zlib
from dataclasses import dataclass, field
from typing import IO, Callable, Iterator, Sequence

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
    """What reading a file met: sentences, tokens, documents, lines with missing columns, and tokens with
    white space other than the separators inside."""

    sentences: int = 0
    tokens: int = 0
    documents: int = 0
    short_lines: int = 0
    short_line_numbers: list[int] = field(default_factory=list)
    # Tokens holding white space other than tab/ASCII space (U+00A0, U+3000, U+2028, ...) or a zero-width
    # character: kept whole, counted, and their first lines noted.
    tokens_with_unicode_space: int = 0
    unicode_space_line_numbers: list[int] = field(default_factory=list)


_COLUMN_SEPARATOR = re.compile(r"[\t ]+")
_LINE_END = re.compile(r"\r\n|\r|\n")
_LINE_END_BYTES = re.compile(rb"\r\n|\r|\n")
_CHUNK = 1 << 16
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF16_LE, "utf-16"),
         (codecs.BOM_UTF16_BE, "utf-16"))
_ZERO_WIDTH = frozenset("\u200b\u200c\u200d\u2060\ufeff")


def _has_unicode_space(token: str) -> bool:
    """Separators are tab and space only, so any other white space (every Zs, Zl and Zp character is one) or
    a zero-width character inside a token is one a user may not expect."""
    return any(ch in _ZERO_WIDTH or ch.isspace() for ch in token)


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
        stripped = raw.strip("\t ")
        columns = _COLUMN_SEPARATOR.split(stripped) if stripped else []
        if not columns:
            yield from flush()
            continue
        if columns[0] == "-DOCSTART-":
            yield from flush()
            stats.documents += 1
            continue
        if len(columns) < 2:
            raise ConllError(f"{where}:{number}: expected a token and a tag, found {stripped!r}")
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
                raise ConllError(f"{where}:{number}: no column {tag_column} in {stripped!r}") from None
        if not tokens:
            first_line = number
        if _has_unicode_space(token):
            stats.tokens_with_unicode_space += 1
            if len(stats.unicode_space_line_numbers) < 20:
                stats.unicode_space_line_numbers.append(number)
        tokens.append(token)
        tags.append(tag)
        try:
            parse_tag(tag)  # a malformed tag is reported here, where its line number is known
        except ValueError as err:
            raise ConllError(f"{where}:{number}: {err}") from None
    yield from flush()


def read_conll(source: str | os.PathLike | IO[str] | IO[bytes], tag_column: int = -1, token_column: int = 0,
               encoding: str = "utf-8", tag_scheme: str | None = "BIOES", name: str | None = None,
               stats: ConllStats | None = None) -> Iterator[ConllSentence]:
    """Sentences of a CoNLL file: a path (``.gz``/``.bz2`` read compressed), or an open text or binary stream
    (such as Beam's ``FileSystems.open()``, which decompresses by extension).

    ``tag_scheme`` re-tags every sentence in BIO or BIOES whatever the file uses (IOB1, BIO, BIOES); ``None``
    keeps the tags as written. Pass a ``ConllStats`` to learn what was read. A byte sequence invalid in
    ``encoding`` is an error naming the file and line (CoNLL-2002 needs ``encoding="latin-1"``).
    """
    stats = stats if stats is not None else ConllStats()
    if isinstance(source, (str, os.PathLike)):
        where = name or os.fspath(source)
        with open_conll_file(source) as handle:
            yield from _parse(decoded_lines(handle, encoding, where), where, tag_column, token_column,
                              tag_scheme, stats)
    elif isinstance(source, io.TextIOBase):
        where = name or getattr(source, "name", "<stream>")
        yield from _parse(_text_lines(source), where, tag_column, token_column, tag_scheme, stats)
    else:  # a binary stream, or an iterable of bytes
        where = name or getattr(source, "name", "<stream>")
        yield from _parse(decoded_lines(source, encoding, where), where, tag_column, token_column, tag_scheme,
                          stats)


@contextlib.contextmanager
def open_conll_file(path: str | os.PathLike,
                    open_bytes: Callable[[str], IO[bytes]] | None = None) -> Iterator[IO[bytes]]:
    """The file's bytes, decompressed when its name ends in ``.gz`` or ``.bz2``. ``open_bytes`` opens the
    stored bytes (default: a local file); pipelines pass Beam's ``FileSystems.open`` with compression
    ``UNCOMPRESSED``, so that remote files are read and decompressed here."""
    opener = open_bytes or (lambda name: open(name, "rb"))
    with opener(os.fspath(path)) as raw, decompressed(raw, os.fspath(path)) as handle:
        yield handle


def decompressed(raw: IO[bytes], name: str) -> IO[bytes]:
    """``raw`` (the file's stored bytes) decompressed when ``name`` ends in ``.gz`` or ``.bz2``.

    Pipelines open CoNLL files uncompressed and decompress here: Beam's own decompressing reader ends a cut
    gzip stream as if the file ended there, and the lines before the cut would be read as the whole file."""
    lowered = name.lower()
    if lowered.endswith(".gz"):
        return gzip.GzipFile(fileobj=raw, mode="rb")
    if lowered.endswith(".bz2"):
        return bz2.BZ2File(raw, mode="rb")
    return raw


def _chunks(handle: IO[bytes], where: str, line: Callable[[], int]) -> Iterator[bytes]:
    """The stream's bytes in chunks, by ``read()`` (a compressed stream of Beam's is not iterable), or the
    pieces of an iterable of bytes; a damaged or cut compressed stream is an error naming the file and the first
    line not read."""
    read = getattr(handle, "read", None)
    pieces = iter(lambda: read(_CHUNK), b"") if read is not None else iter(handle)
    while True:
        try:
            chunk = next(pieces, b"")
        except (EOFError, OSError, zlib.error, ValueError) as err:
            raise ConllError(f"{where}:{line()}: the compressed stream is damaged or cut short ({err})") from None
        if not chunk:
            return
        yield chunk


def decoded_lines(handle: IO[bytes], encoding: str, where: str) -> Iterator[str]:
    """The lines of a binary stream, decoded, without their line ends (LF, CRLF or CR; nothing else ends a
    line). Decoding line by line gives an invalid byte's line and column."""
    if "\n".encode(encoding, errors="replace") != b"\n":  # UTF-16/32: line ends are not single bytes
        yield from _decoded_wide_lines(handle, encoding, where)
        return
    number = 0
    pending = b""
    for chunk in _chunks(handle, where, lambda: number + 1):
        if number == 0 and not pending:
            chunk = _check_bom(chunk, encoding, where)
        pending += chunk
        ends = list(_LINE_END_BYTES.finditer(pending))
        if ends and ends[-1].group() == b"\r" and ends[-1].end() == len(pending):
            ends.pop()  # a CR at the end of the chunk may be half of a CRLF
        start = 0
        for end in ends:
            number += 1
            yield _decode_line(pending[start:end.start()], encoding, where, number)
            start = end.end()
        pending = pending[start:]
    if pending:  # the last line, without a line end, or with the CR held back above
        yield _decode_line(pending.removesuffix(b"\r"), encoding, where, number + 1)


def _check_bom(chunk: bytes, encoding: str, where: str) -> bytes:
    for bom, wide in _BOMS:
        if chunk.startswith(bom):
            raise ConllError(f"{where}:1: the file starts with a {wide.upper()} byte-order mark, so it is not "
                             f"{encoding}: pass the encoding {wide}")
    return chunk[len(codecs.BOM_UTF8):] if chunk.startswith(codecs.BOM_UTF8) and \
        codecs.lookup(encoding).name == "utf-8" else chunk


def _decode_line(raw: bytes, encoding: str, where: str, number: int) -> str:
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as err:
        raise ConllError(f"{where}:{number}: byte {raw[err.start:err.start + 1]!r} at column {err.start + 1} "
                         f"is not valid {encoding}; pass the file's encoding (e.g. latin-1)") from None


def _decoded_wide_lines(handle: IO[bytes], encoding: str, where: str) -> Iterator[str]:
    """``decoded_lines`` for encodings whose line ends are not single bytes: decoded first, then split."""
    decoder = codecs.getincrementaldecoder(encoding)()
    number = 0

    def pieces() -> Iterator[str]:
        for chunk in (*_chunks(handle, where, lambda: number + 1), None):
            try:
                yield decoder.decode(chunk or b"", final=chunk is None)
            except UnicodeDecodeError as err:
                raise ConllError(f"{where}:{number + 1}: bytes that are not valid {encoding} "
                                 f"({err.reason})") from None

    for line in _split_text(pieces()):
        number += 1
        yield line.removeprefix("\ufeff") if number == 1 else line


def _text_lines(source: IO[str]) -> Iterator[str]:
    """An open text stream's lines."""
    return _split_text(iter(lambda: source.read(_CHUNK), ""))


def _split_text(pieces: Iterator[str]) -> Iterator[str]:
    """Text split at LF, CRLF and CR only (``str.splitlines`` also splits at U+2028, U+0085, form feeds ...)."""
    pending = ""
    for piece in pieces:
        pending += piece
        held = pending.endswith("\r")  # may be half of a CRLF that the next piece completes
        lines = _LINE_END.split(pending[:-1] if held else pending)
        pending = lines.pop() + ("\r" if held else "")
        yield from lines
    lines = _LINE_END.split(pending)
    if lines[-1] == "":
        lines.pop()
    yield from lines


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
