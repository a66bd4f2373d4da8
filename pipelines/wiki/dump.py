"""Streaming reader for MediaWiki XML dumps (``*-pages-articles*.xml[.bz2|.xz|.gz]``).

The reader is built to run inside Beam DoFns: no module-level state, every record is a small picklable
dataclass, and all IO goes through ``apache_beam.io.filesystems.FileSystems`` so ``gs://`` (or any other
registered filesystem) paths work exactly like local ones.

Work units
----------
:func:`list_units` turns a path or glob into :class:`DumpUnit` s. A *multistream* dump (Wikimedia's
``*-pages-articles-multistream.xml.bz2``) comes with an index (``*-multistream-index.txt.bz2``, lines
``offset:page_id:title``); each distinct offset starts an independent bz2 stream holding ~100 bare ``<page>``
elements, so the file is cut into one unit per stream (byte range ``[offset, next offset)``) and a single large
file is read by many workers. The bytes before the first indexed offset (the stream holding ``<mediawiki>``
and ``<siteinfo>``) form unit 0, so the units always cover the whole file. Without an index a file is one
unit. ``target_unit_bytes`` merges adjacent streams into bigger units when per-stream units would be too many.

Reading
-------
:func:`iter_unit` streams one unit: it reads compressed bytes in 1 MiB chunks, decompresses incrementally
(concatenated bz2/xz/gz streams included) and feeds a bare expat parser (not ElementTree: we only need five
fields per page, and expat exposes the exact line/column/byte of an error). Only the current page's fields are
buffered, so memory is bounded by one page plus one chunk whatever the file size.

A stream of a multistream file has no root element (bare ``<page>`` s, and the last one ends with the file's
``</mediawiki>``); the reader detects a missing ``<mediawiki>`` root and feeds a synthetic one, so every unit is
parsed with the same code.

Encodings: UTF-8, and UTF-16 (LE or BE) with a byte-order mark. Raw bytes are handed to expat, which detects
the BOM itself; the reader only needs to know the encoding to encode its synthetic root tag. Byte offsets in
faults are therefore offsets in the file's own encoding.

Faults
------
Truncated or malformed input never loses the pages read before it: :func:`iter_unit` yields every complete
page and then, at most once and last, a :class:`DumpFault` giving the file, the unit, the 1-based line and
column and the byte offset in the unit's decompressed XML, the approximate compressed offset, the pages read
before it, and a message. A pipeline counts faults (they are ordinary records, so they can go to a tagged
output); :func:`read_pages` is the convenience form that raises :class:`DumpError` (carrying the fault) after
yielding the good pages.

No DTD
------
A MediaWiki export has no DOCTYPE, so one in a dump was put there by hand, and its entities would be expanded
into page text (an external one would read a file of the machine). Every DTD is refused, wherever it stands:
before the root (after the XML declaration, comments, processing instructions, a BOM, in UTF-16, at the start of a
multistream's later stream: expat's DOCTYPE callback raises), or where only content may stand (a DOCTYPE or
``<!ENTITY`` after the root or inside a root-less stream, which expat reports as an invalid token: the bytes at the
error say which). A refusal is not a counted fault: :func:`iter_unit` yields the pages before it and then raises
:class:`DumpError` (``on_fault`` does not skip it), so a run given a crafted file fails instead of finishing
without it unnoticed.
"""
from __future__ import annotations

import bz2
import io
import lzma
import posixpath
import re
import zlib
from dataclasses import dataclass, replace
from typing import Callable, Iterable, Iterator, List, Optional, Tuple, Union
from xml.parsers import expat

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from schemas.errors import InputDataError, UserError


__all__ = [
    "DumpUnit", "Page", "SiteInfo", "DumpFault", "DumpError",
    "list_units", "find_index", "read_index_offsets", "iter_unit", "read_pages", "read_siteinfo",
]

# Read size for compressed input. Large enough that per-chunk Python overhead is negligible, small enough that
# memory stays flat (a decompressed bz2 chunk is at most a few MiB).
_CHUNK = 1 << 20
_MAX_OUT = 8 << 20  # most decompressed bytes produced per decompress() call

_BZ2_MAGIC = b"BZh"
_XZ_MAGIC = b"\xfd7zXZ\x00"
_GZ_MAGIC = b"\x1f\x8b"


# ---------------------------------------------------------------------------------------------------------------
# Records
# ---------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DumpUnit:
    """A byte range of one dump file that can be read independently of the rest.

    ``end`` is exclusive; ``None`` means "to the end of the file". ``multistream`` is True for a unit cut out of
    a multistream file by its index: such a unit may legitimately lack the ``<mediawiki>`` root or its closing
    tag. ``stream_index`` is the ordinal of the unit's first bz2 stream (0 for a whole file), handy as a stable
    sort/shard key together with ``path``.
    """
    path: str
    start: int = 0
    end: Optional[int] = None
    multistream: bool = False
    stream_index: int = 0

    @property
    def key(self) -> str:
        """A stable, unique identifier of the unit (e.g. for deterministic seeding or logging)."""
        return f"{self.path}@{self.start}"

    @property
    def size(self) -> Optional[int]:
        return None if self.end is None else self.end - self.start


@dataclass(frozen=True)
class Page:
    """One ``<page>`` of a dump. ``text`` is the raw wikitext of the (single, latest) revision; ``""`` when the
    revision text is missing or deleted. ``redirect_target`` is the dump's ``<redirect title=...>``, which
    MediaWiki already stores normalised (full title, namespace prefix included)."""
    page_id: int
    namespace: int
    title: str
    redirect_target: Optional[str]
    text: str
    revision_id: Optional[int] = None

    @property
    def is_redirect(self) -> bool:
        return self.redirect_target is not None


@dataclass(frozen=True)
class SiteInfo:
    """The dump's ``<siteinfo>`` block (absent from some exports). ``namespaces`` holds ``(key, name, case)``
    with ``name`` ``""`` for the main namespace; ``lang`` is the root element's ``xml:lang``."""
    sitename: Optional[str] = None
    dbname: Optional[str] = None
    base: Optional[str] = None
    case: Optional[str] = None
    lang: Optional[str] = None
    namespaces: Tuple[Tuple[int, str, str], ...] = ()

    def namespace_names(self) -> dict:
        """``{key: name}``, convenient for :class:`pipelines.wiki.titles.NamespaceTable`."""
        return {key: name for key, name, _ in self.namespaces}


@dataclass(frozen=True)
class DumpFault:
    """Why a unit stopped early. Positions refer to the unit's decompressed XML (line and column 1-based; byte
    offset 0-based, in the file's own encoding); ``compressed_offset`` is the absolute offset in the file up to
    which compressed input had been consumed when the fault was seen (exact for decompression errors, a chunk
    bound otherwise). ``pages_before`` pages of this unit were yielded before the fault."""
    path: str
    unit_start: int
    line: Optional[int]
    column: Optional[int]
    byte_offset: Optional[int]
    compressed_offset: Optional[int]
    message: str
    pages_before: int = 0
    last_title: Optional[str] = None

    def describe(self) -> str:
        where = []
        if self.line is not None:
            where.append(f"line {self.line}, column {self.column}")
        if self.byte_offset is not None:
            where.append(f"byte {self.byte_offset} of the decompressed XML")
        if self.compressed_offset is not None:
            where.append(f"near compressed byte {self.compressed_offset}")
        unit = f" (unit starting at byte {self.unit_start})" if self.unit_start else ""
        after = f"; {self.pages_before} pages read before it"
        if self.last_title:
            after += f", the last one {self.last_title!r}"
        return f"{self.path}{unit}: {', '.join(where) or 'unknown position'}: {self.message}{after}"


class DumpError(UserError):
    """Raised by :func:`read_pages` after the good pages of a faulty unit were yielded."""

    def __init__(self, fault: DumpFault):
        super().__init__(fault.describe())
        self.fault = fault

    def __reduce__(self):  # exceptions with custom __init__ need this to cross process boundaries
        return (DumpError, (self.fault,))


# ---------------------------------------------------------------------------------------------------------------
# Listing units
# ---------------------------------------------------------------------------------------------------------------

_MULTISTREAM_RE = re.compile(r"^(?P<stem>.*-multistream)(?P<num>\d*)\.xml(?P<range>-p\d+p\d+)?\.bz2$")


def _index_candidates(path: str) -> List[str]:
    directory, name = posixpath.split(path) if "://" in path else _split_local(path)
    out = []
    m = _MULTISTREAM_RE.match(name)
    if m:
        # Wikimedia's names: X-multistream.xml.bz2 -> X-multistream-index.txt.bz2 and, for the split files,
        # X-multistream3.xml-p151574p311329.bz2 -> X-multistream-index3.txt-p151574p311329.bz2
        out.append(f"{m['stem']}-index{m['num']}.txt{m['range'] or ''}.bz2")
    for suffix in (".xml.bz2", ".bz2"):
        if name.endswith(suffix):
            out.append(name[: -len(suffix)] + "-index.txt.bz2")
            break
    return [_join(directory, c) for c in dict.fromkeys(out)]


def _split_local(path: str) -> Tuple[str, str]:
    import os
    return os.path.split(path)


def _join(directory: str, name: str) -> str:
    if not directory:
        return name
    return directory.rstrip("/") + "/" + name


def _is_index_file(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return "-index" in name and ".txt" in name


def find_index(path: str) -> Optional[str]:
    """The multistream index that belongs to ``path``, if it exists next to it (Wikimedia's naming)."""
    for candidate in _index_candidates(path):
        if FileSystems.exists(candidate):
            return candidate
    return None


def read_index_offsets(index_path: str) -> List[int]:
    """The distinct stream offsets of a multistream index (``offset:page_id:title`` lines, bz2-compressed or
    plain), ascending. Only the offsets are kept, so even enwiki's index (~24M lines, ~240k offsets) fits."""
    offsets: List[int] = []
    last = -1
    with FileSystems.open(index_path, mime_type="application/octet-stream",
                          compression_type=CompressionTypes.UNCOMPRESSED) as raw:
        head = raw.read(3)
        raw.seek(0)
        binary = bz2.open(raw) if head == _BZ2_MAGIC else raw
        for lineno, line in enumerate(io.TextIOWrapper(binary, encoding="utf-8", errors="replace"), 1):
            line = line.strip()
            if not line:
                continue
            head_field = line.split(":", 1)[0]
            try:
                offset = int(head_field)
            except ValueError:
                raise InputDataError(f"{index_path}:{lineno}: not an 'offset:page_id:title' line: {line[:80]!r}")
            if offset != last:
                offsets.append(offset)
                last = offset
    offsets = sorted(set(offsets))  # indices are sorted already; this guards against hand-made ones
    return offsets


def _match(pattern: str) -> List[Tuple[str, int]]:
    results = FileSystems.match([pattern])
    files = [(m.path, m.size_in_bytes) for r in results for m in r.metadata_list]
    if not files:
        raise FileNotFoundError(f"no dump matches {pattern!r}")
    return sorted(files)


def list_units(pattern: str, *, use_index: bool = True, target_unit_bytes: int = 0) -> List[DumpUnit]:
    """Work units for every dump matching ``pattern`` (a path or a glob understood by ``FileSystems``).

    Index files matched by the glob are skipped. A ``.bz2`` file with an index next to it is split into one
    unit per bz2 stream; ``target_unit_bytes > 0`` merges consecutive streams until a unit reaches that many
    compressed bytes (per-stream units of enwiki are ~240k tiny units; 16-64 MiB units are a better fit for
    most runners). Every other file is one unit.
    """
    units: List[DumpUnit] = []
    for path, size in _match(pattern):
        if _is_index_file(path):
            continue
        index = find_index(path) if use_index else None
        if index is None:
            units.append(DumpUnit(path))
            continue
        offsets = [o for o in read_index_offsets(index) if 0 <= o < size]
        bounds = ([0] if not offsets or offsets[0] > 0 else []) + offsets + [size]
        ranges = list(zip(bounds[:-1], bounds[1:]))
        merged: List[Tuple[int, int, int]] = []  # (start, end, first stream ordinal)
        for ordinal, (start, end) in enumerate(ranges):
            if merged and target_unit_bytes > 0 and merged[-1][1] - merged[-1][0] < target_unit_bytes:
                merged[-1] = (merged[-1][0], end, merged[-1][2])
            else:
                merged.append((start, end, ordinal))
        units.extend(DumpUnit(path, start, end, multistream=True, stream_index=ordinal)
                     for start, end, ordinal in merged)
    return units


# ---------------------------------------------------------------------------------------------------------------
# Decompression
# ---------------------------------------------------------------------------------------------------------------

class _DecompressionFault(Exception):
    def __init__(self, message: str, compressed_offset: int):
        super().__init__(message)
        self.compressed_offset = compressed_offset


def _new_decompressor(kind: str):
    if kind == "bz2":
        return bz2.BZ2Decompressor()
    if kind == "xz":
        return lzma.LZMADecompressor(format=lzma.FORMAT_AUTO)
    return zlib.decompressobj(wbits=47)  # gzip or zlib header, auto-detected


def _sniff(head: bytes) -> str:
    if head.startswith(_BZ2_MAGIC):
        return "bz2"
    if head.startswith(_XZ_MAGIC):
        return "xz"
    if head.startswith(_GZ_MAGIC):
        return "gz"
    return "none"


class _Source:
    """Decompressed bytes of a unit, chunk by chunk; ``position`` is the absolute compressed offset consumed."""

    def __init__(self, unit: DumpUnit):
        self.unit = unit
        self.position = unit.start
        self.kind = "none"

    def _raw_chunks(self, fh) -> Iterator[bytes]:
        remaining = None if self.unit.end is None else self.unit.end - self.unit.start
        while remaining is None or remaining > 0:
            n = _CHUNK if remaining is None else min(_CHUNK, remaining)
            data = fh.read(n)
            if not data:
                return
            if remaining is not None:
                remaining -= len(data)
            yield data

    def chunks(self) -> Iterator[bytes]:
        with FileSystems.open(self.unit.path, mime_type="application/octet-stream",
                              compression_type=CompressionTypes.UNCOMPRESSED) as fh:
            if self.unit.start:
                fh.seek(self.unit.start)
            raw = self._raw_chunks(fh)
            first = next(raw, b"")
            self.kind = _sniff(first)
            if self.unit.multistream and self.unit.start and self.kind != "bz2" and first:
                raise _DecompressionFault(
                    f"no bz2 stream starts at byte {self.unit.start}: the multistream index does not match "
                    f"this file", self.unit.start)
            if self.kind == "none":
                for data in _chain([first], raw):
                    self.position += len(data)
                    yield data
                return
            yield from self._decompress(_chain([first], raw))

    def _decompress(self, raw: Iterator[bytes]) -> Iterator[bytes]:
        # Output is requested in slices of at most _MAX_OUT bytes, so a highly compressible chunk cannot blow
        # up memory (wikitext compresses 5-20x; a crafted file much more).
        decomp = _new_decompressor(self.kind)
        is_zlib = self.kind == "gz"
        in_stream = False  # inside a stream that has not reached its end marker
        for data in raw:
            chunk_start = self.position
            self.position += len(data)
            while True:
                try:
                    out = decomp.decompress(data, _MAX_OUT)
                except (OSError, EOFError, ValueError, lzma.LZMAError, zlib.error) as exc:
                    raise _DecompressionFault(f"corrupt {self.kind} data: {exc}", chunk_start) from None
                in_stream = True
                if out:
                    yield out
                if decomp.eof:
                    # Concatenated streams (multistream bz2, multi-stream xz/gz): start over on the rest.
                    in_stream = False
                    data = decomp.unused_data
                    if self.kind == "xz":
                        data = data.lstrip(b"\x00")  # xz stream padding
                    decomp = _new_decompressor(self.kind)
                    if not data:
                        break
                elif is_zlib:
                    data = decomp.unconsumed_tail
                    if not data and len(out) < _MAX_OUT:
                        break
                else:
                    data = b""
                    if decomp.needs_input:
                        break
        if in_stream:
            raise _DecompressionFault(f"the {self.kind} stream ends early: the file is truncated", self.position)


def _chain(*iterables: Iterable[bytes]) -> Iterator[bytes]:
    for it in iterables:
        yield from it


# ---------------------------------------------------------------------------------------------------------------
# XML
# ---------------------------------------------------------------------------------------------------------------

_PAGE_FIELDS = {"title", "ns", "id"}


class _Handler:
    """expat callbacks collecting pages and siteinfo. Character data is kept only inside the few elements we
    want, so skipped elements (contributors, comments, sha1 ...) cost nothing."""

    def __init__(self):
        self.stack: List[str] = []
        self.pages: List[Page] = []
        self.buf: Optional[List[str]] = None
        self.in_page = False
        self.fields: dict = {}
        self.redirect: Optional[str] = None
        self.lang: Optional[str] = None
        self.site: dict = {}
        self.namespaces: List[Tuple[int, str, str]] = []
        self.ns_attrs: Tuple[int, str] = (0, "")
        self.siteinfo_done = False
        self.saw_page = False
        self.count = 0
        self.last_title: Optional[str] = None

    def start(self, name: str, attrs: dict) -> None:
        parent = self.stack[-1] if self.stack else None
        self.stack.append(name)
        if self.in_page:
            if parent == "page" and name in _PAGE_FIELDS:
                self.buf = []
            elif name == "redirect" and parent == "page":
                self.redirect = attrs.get("title", "")
            elif parent == "revision" and name in ("text", "id"):
                self.buf = []
        elif name == "page":
            self.in_page = True
            self.saw_page = True
            self.fields = {}
            self.redirect = None
        elif name == "namespace" and parent == "namespaces":
            try:
                key = int(attrs.get("key", "0"))
            except ValueError:
                key = 0
            self.ns_attrs = (key, attrs.get("case", ""))
            self.buf = []
        elif parent == "siteinfo" and name in ("sitename", "dbname", "base", "case"):
            self.buf = []
        elif name == "mediawiki" and parent is None:
            self.lang = attrs.get("xml:lang")

    def data(self, text: str) -> None:
        if self.buf is not None:
            self.buf.append(text)

    def end(self, name: str) -> None:
        self.stack.pop()
        parent = self.stack[-1] if self.stack else None
        if self.in_page:
            if name == "page":
                self._finish_page()
            elif self.buf is not None:
                value = "".join(self.buf)
                self.buf = None
                if parent == "page":
                    self.fields[name] = value
                elif parent == "revision":
                    self.fields["rev_" + name] = value
        elif name == "namespace" and parent == "namespaces":
            key, case = self.ns_attrs
            self.namespaces.append((key, "".join(self.buf or ()).strip(), case))
            self.buf = None
        elif parent == "siteinfo" and self.buf is not None:
            self.site[name] = "".join(self.buf).strip()
            self.buf = None
        elif name == "siteinfo":
            self.siteinfo_done = True

    def _finish_page(self) -> None:
        self.in_page = False
        f = self.fields
        title = f.get("title", "").strip()
        self.pages.append(Page(
            page_id=_to_int(f.get("id"), -1),
            namespace=_to_int(f.get("ns"), 0),
            title=title,
            redirect_target=self.redirect,
            text=f.get("rev_text", ""),
            revision_id=_to_int(f.get("rev_id"), None),
        ))
        self.count += 1
        self.last_title = title
        self.fields = {}

    def siteinfo(self) -> SiteInfo:
        return SiteInfo(sitename=self.site.get("sitename"), dbname=self.site.get("dbname"),
                        base=self.site.get("base"), case=self.site.get("case"), lang=self.lang,
                        namespaces=tuple(self.namespaces))


def _to_int(value, default):
    try:
        return int(value.strip())
    except (AttributeError, ValueError):
        return default


_BOMS = ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"))
_SNIFF_BYTES = 4096  # bytes read before looking for the root
# A prolog (comments, processing instructions) longer than this is not followed to its end: the unit is then taken
# for a document when it starts with an XML declaration, else for a root-less stream. Either way expat still sees
# every byte, so a DTD further on is refused all the same; the bound only keeps memory flat.
_PROLOG_MAX = 4 << 20
_ROOT_TAG = re.compile(r"<mediawiki[\s/>]")
# What only a DTD declares. In content expat rejects them as an invalid token; these say it was a DTD.
_DTD_DECLARATION = re.compile(r"<!(DOCTYPE|ENTITY|ELEMENT|ATTLIST|NOTATION)")
_DTD_REFUSED = ("a DTD is not allowed in a MediaWiki dump ({what} ...>): a dump must not declare entities, which "
                "would be expanded into page text; the file is refused")
_TAIL = 256  # bytes of the previous chunk kept to read a declaration the chunk bound cut


def _detect(head: bytes) -> Tuple[str, int]:
    """(encoding, BOM length) of the start of a unit. Without a BOM, a NUL byte next to a non-NUL one in the first
    two is UTF-16 (XML text holds no NUL), whatever the first character: expat sees it too."""
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            return encoding, len(bom)
    if len(head) >= 2 and head[0] and not head[1]:
        return "utf-16-le", 0
    if len(head) >= 2 and not head[0] and head[1]:
        return "utf-16-be", 0
    return "utf-8", 0


def _prolog(text: str) -> str:
    """What follows the prolog of ``text`` (the decoded start of a unit, BOM removed): ``"root"`` (``<mediawiki``),
    ``"dtd"`` (a DOCTYPE), ``"other"`` (anything else: a root-less stream's ``<page>``, or not a dump), or ``"more"``
    when ``text`` ends inside the prolog. The prolog is whitespace, the XML declaration, comments and processing
    instructions, each skipped whole: a pattern over it could match across a DOCTYPE between two comments."""
    i, n = 0, len(text)
    while True:
        while i < n and text[i] in " \t\r\n":
            i += 1
        if text.startswith("<!--", i):
            end = text.find("-->", i + 4)
            if end < 0:
                return "more"
            i = end + 3
        elif text.startswith("<?", i):
            end = text.find("?>", i + 2)
            if end < 0:
                return "more"
            i = end + 2
        elif text.startswith("<!DOCTYPE", i):
            return "dtd"
        elif _ROOT_TAG.match(text, i):
            return "root"
        else:
            rest = text[i:i + 11]
            if len(rest) < 11 and any(k.startswith(rest) for k in ("<!DOCTYPE", "<mediawiki", "<!--", "<?")):
                return "more"
            return "other"


class _Refused(Exception):
    """A DTD in the input: never a counted fault (see the module's docstring)."""


class _Parser:
    """Feeds decompressed chunks to expat, wrapping root-less units in a synthetic ``<mediawiki>``."""

    def __init__(self, unit: DumpUnit):
        self.unit = unit
        self.handler = _Handler()
        self.expat = expat.ParserCreate()
        self.expat.buffer_text = True
        self.expat.buffer_size = 1 << 16
        self.expat.StartElementHandler = self.handler.start
        self.expat.EndElementHandler = self.handler.end
        self.expat.CharacterDataHandler = self.handler.data
        # No DTD is read: the DOCTYPE itself is refused at its start, before expat reads a declaration of it. The
        # other settings hold should that ever change: no parameter entity, no entity declaration, no external one.
        self.expat.StartDoctypeDeclHandler = self._refuse_doctype
        self.expat.EntityDeclHandler = self._refuse_entity
        self.expat.ExternalEntityRefHandler = self._refuse_external
        self.expat.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        self.encoding = "utf-8"
        self.prefix_bytes = 0  # bytes of synthetic input fed before the real data
        self.synthetic_root = False
        self.fed = 0  # real (decompressed) bytes fed
        # The chunk being parsed and the end of the one before, with their offsets in the real bytes: what an
        # expat error points into, read to tell a DTD declaration from other malformed XML.
        self.chunk, self.chunk_start = b"", 0
        self.tail, self.tail_start = b"", 0

    def _refuse_doctype(self, name, system_id, public_id, has_internal_subset) -> None:
        what = f"<!DOCTYPE {name}" + (f" SYSTEM {system_id!r}" if system_id else "")
        raise _Refused(_DTD_REFUSED.format(what=what))

    def _refuse_entity(self, name, *_ignored) -> None:
        raise _Refused(_DTD_REFUSED.format(what=f"<!ENTITY {name}"))

    def _refuse_external(self, context, base, system_id, public_id) -> int:
        raise _Refused(_DTD_REFUSED.format(what=f"<!ENTITY ... SYSTEM {system_id!r}"))

    def needs_more(self, head: bytes) -> bool:
        """Whether ``head`` (the unit's first bytes) ends inside the prolog and more of it should be read first."""
        encoding, bom = _detect(head)
        return _prolog(head[bom:].decode(encoding, errors="ignore")) == "more" and len(head) < _PROLOG_MAX

    def begin(self, head: bytes) -> None:
        self.encoding, bom = _detect(head)
        text = head[bom:].decode(self.encoding, errors="ignore")
        found = _prolog(text)
        # A DOCTYPE goes to expat in place, where its callback refuses it with its exact position.
        document = found in ("root", "dtd") or (found == "more" and text.lstrip(" \t\r\n").startswith("<?xml"))
        if not document:
            prefix = "<mediawiki>".encode(self.encoding)
            # The BOM must stay first for expat to detect the encoding.
            self.expat.Parse(head[:bom] + prefix, False)
            self.prefix_bytes = len(prefix)
            self.synthetic_root = True
            self.fed += bom
            head = head[bom:]
        self.feed(head)

    def feed(self, data: bytes, final: bool = False) -> None:
        if self.chunk:
            self.tail = (self.tail + self.chunk[-_TAIL:])[-_TAIL:]  # decompressed chunks can be a few bytes
            self.tail_start = self.chunk_start + len(self.chunk) - len(self.tail)
        self.chunk, self.chunk_start = data, self.fed
        self.expat.Parse(data, final)
        self.fed += len(data)

    def dtd_declaration(self, byte: int, more: Callable[[], bytes]) -> Optional[Tuple[str, int]]:
        """The DTD declaration (``<!ENTITY`` ...) that expat's error at real byte ``byte`` is, if it is one. expat
        points a few characters into the invalid token, so a few before and after are read; it rejects ``<!E``
        without waiting for the rest, which may still be unread: ``more()`` gives the next bytes (b"" at the end).
        Returns the declaration's keyword and the real byte of its ``<``."""
        width = 2 if self.encoding.startswith("utf-16") else 1
        start = max(self.tail_start, byte - 8 * width)
        if width == 2 and start % 2:  # UTF-16 characters start at even offsets (the BOM is two bytes)
            start += 1
        end = byte + 16 * width
        data = self.tail + self.chunk
        while self.tail_start + len(data) < end:
            extra = more()
            if not extra:
                break
            data += extra
        window = data[start - self.tail_start:end - self.tail_start]
        found = _DTD_DECLARATION.search(window.decode(self.encoding, errors="ignore"))
        if not found:
            return None
        return found.group(0), start + window.index(found.group(0).encode(self.encoding))

    def bytes_between(self, start: Optional[int], end: int) -> bytes:
        """The real bytes ``[start, end)`` as far as they are kept (b"" for none)."""
        if start is None:
            return b""
        return (self.tail + self.chunk)[max(0, start - self.tail_start):max(0, end - self.tail_start)]

    def declaration_start(self, byte: int) -> Optional[int]:
        """Where the ``<!DOCTYPE`` that expat's callback at real byte ``byte`` belongs to starts (expat calls it at
        the internal subset's ``[`` or the closing ``>``), if it is in the bytes kept."""
        data = self.tail + self.chunk
        found = data.rfind("<!DOCTYPE".encode(self.encoding), 0, byte - self.tail_start)
        return None if found < 0 else self.tail_start + found

    def close(self) -> None:
        """End of input. A multistream unit may end with only the root open (it is closed by a later stream);
        anything else still open means the XML is truncated."""
        depth = len(self.handler.stack)
        if self.synthetic_root and not self.unit.multistream and not self.handler.saw_page:
            # A whole file without <mediawiki> is read like a root-less stream, so text or foreign XML would
            # otherwise parse cleanly into zero pages: a wrong --input would give an empty dataset, silently.
            raise _NotADump("neither a <mediawiki> root nor any <page>: not a MediaWiki XML dump")
        if depth == 1 and not self.handler.in_page and (self.unit.multistream or self.synthetic_root):
            self.expat.Parse("</mediawiki>".encode(self.encoding), True)
            return
        if depth == 0 and self.synthetic_root:
            self.expat.Parse(b"", True)
            return
        if depth:
            where = f"inside <{'/'.join(self.handler.stack)}>"
            if self.handler.in_page and self.handler.fields.get("title"):
                where += f" of page {self.handler.fields['title'].strip()!r}"
            raise _Truncated(f"the XML ends {where}: the dump is truncated")
        self.expat.Parse(b"", True)

    def fault(self, message: str, source: _Source, expat_error: bool) -> DumpFault:
        line = col = byte = None
        if expat_error:
            line, col, byte = self.expat.ErrorLineNumber, self.expat.ErrorColumnNumber, self.expat.ErrorByteIndex
        else:
            line, col, byte = (self.expat.CurrentLineNumber, self.expat.CurrentColumnNumber,
                               self.expat.CurrentByteIndex)
        if byte is not None and byte >= 0:
            byte = max(0, byte - self.prefix_bytes)
        else:
            byte = self.fed
        if self.synthetic_root and line == 1 and col is not None:
            col = max(0, col - len("<mediawiki>"))
        return DumpFault(path=self.unit.path, unit_start=self.unit.start, line=line,
                         column=None if col is None else col + 1, byte_offset=byte,
                         compressed_offset=source.position if source.kind != "none" else None,
                         message=message, pages_before=self.handler.count, last_title=self.handler.last_title)


def _point_back(fault: DumpFault, start: Optional[int], encoding: str, between: bytes) -> DumpFault:
    """``fault`` moved back to real byte ``start`` (a declaration's ``<``) when ``between`` (the bytes from there to
    the fault's position) holds no line break, so the column moves by as many characters; else left where it is."""
    text = between.decode(encoding, errors="ignore")
    if start is None or fault.byte_offset is None or fault.column is None or "\n" in text or "\r" in text:
        return fault
    return replace(fault, byte_offset=start, column=max(1, fault.column - len(text)))


class _Truncated(Exception):
    pass


class _NotADump(Exception):
    """Input that is not a dump at all: the fault points at its start, where a dump would have begun."""


def _parse(unit: DumpUnit, siteinfo_only: bool = False) -> Iterator[Union[Page, DumpFault, _Handler]]:
    source = _Source(unit)
    parser = _Parser(unit)
    handler = parser.handler
    started = False
    head = b""
    chunks = source.chunks()

    def more() -> bytes:  # the bytes after the ones parsed, to read what an expat error stopped at
        try:
            return next(chunks, b"")
        except _DecompressionFault:
            return b""

    try:
        for chunk in chunks:
            if not started:
                head += chunk
                if len(head) < _SNIFF_BYTES or parser.needs_more(head):
                    continue
                started = True
                parser.begin(head)
            else:
                parser.feed(chunk)
            if handler.pages:
                yield from handler.pages
                handler.pages.clear()
            if siteinfo_only and (handler.siteinfo_done or handler.saw_page):
                yield handler
                return
        if not started:
            if not head.strip():
                if not unit.multistream:
                    yield parser.fault("the dump is empty", source, expat_error=False)
                return
            parser.begin(head)
        parser.close()
    except _DecompressionFault as exc:
        yield from handler.pages
        handler.pages.clear()
        fault = parser.fault(str(exc), source, expat_error=False)
        yield _replace_offset(fault, exc.compressed_offset)
        return
    except expat.ExpatError as exc:
        yield from handler.pages
        handler.pages.clear()
        fault = parser.fault(f"malformed XML: {expat.ErrorString(exc.code)}", source, expat_error=True)
        declaration = parser.dtd_declaration(fault.byte_offset, more)
        if declaration:
            what, start = declaration
            fault = _point_back(fault, start, parser.encoding, parser.bytes_between(start, fault.byte_offset))
            raise DumpError(replace(fault, message=_DTD_REFUSED.format(what=what))) from None
        yield fault
        return
    except _Refused as exc:
        yield from handler.pages
        handler.pages.clear()
        fault = parser.fault(str(exc), source, expat_error=False)
        start = parser.declaration_start(fault.byte_offset)
        raise DumpError(_point_back(fault, start, parser.encoding,
                                    parser.bytes_between(start, fault.byte_offset))) from None
    except _Truncated as exc:
        yield from handler.pages
        handler.pages.clear()
        yield parser.fault(str(exc), source, expat_error=False)
        return
    except _NotADump as exc:
        yield replace(parser.fault(str(exc), source, expat_error=False), line=1, column=1, byte_offset=0)
        return
    yield from handler.pages
    handler.pages.clear()
    if siteinfo_only:
        yield handler


def _replace_offset(fault: DumpFault, compressed_offset: int) -> DumpFault:
    return replace(fault, compressed_offset=compressed_offset)


def iter_unit(unit: Union[DumpUnit, str]) -> Iterator[Union[Page, DumpFault]]:
    """Every page of ``unit`` in file order, then at most one :class:`DumpFault` (always the last record) if
    the unit is truncated, malformed or badly compressed. A plain path means the whole file as one unit.
    Errors opening the file (missing file, permissions) are raised, not turned into faults."""
    if isinstance(unit, str):
        unit = DumpUnit(unit)
    for record in _parse(unit):
        yield record  # type: ignore[misc]


def read_pages(source: Union[DumpUnit, str], *, on_fault: str = "raise") -> Iterator[Page]:
    """Pages of a unit, a file or a glob (all units in order). On a fault the good pages have been yielded
    and then ``on_fault='raise'`` raises :class:`DumpError`; ``'skip'`` ends that unit silently."""
    if on_fault not in ("raise", "skip"):
        raise ValueError("on_fault must be 'raise' or 'skip'")
    units = [source] if isinstance(source, DumpUnit) else list_units(source)
    for unit in units:
        for record in iter_unit(unit):
            if isinstance(record, DumpFault):
                if on_fault == "raise":
                    raise DumpError(record)
                break
            yield record


def read_siteinfo(path: str) -> Optional[SiteInfo]:
    """The ``<siteinfo>`` of a dump file (read from its first bytes only), or ``None`` when it has none."""
    for record in _parse(DumpUnit(path), siteinfo_only=True):
        if isinstance(record, _Handler):
            if not record.namespaces and not record.site:
                return None
            return record.siteinfo()
    return None

