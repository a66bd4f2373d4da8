"""Wiki dumps made for tests and benches: a UTF-8 dump re-packed as a Wikimedia-style multistream dump.

Lives with the tests, not in ``pipelines.wiki.dump``: no pipeline writes dumps, and the reader should not carry a
writer that only its checks use.
"""
from __future__ import annotations

import bz2
import html
import lzma
import re
import zlib
from typing import List, Tuple

_PAGE_RE = re.compile(rb"[ \t]*<page>.*?</page>\s*", re.S)
_TITLE_RE = re.compile(rb"<title>(.*?)</title>")
_ID_RE = re.compile(rb"<id>(\d+)</id>")
_SUFFIX = "-multistream.xml.bz2"


def _decompressed(raw: bytes) -> bytes:
    if raw.startswith(b"BZh"):
        return bz2.decompress(raw)
    if raw.startswith(b"\xfd7zXZ\x00"):
        return lzma.decompress(raw)
    if raw.startswith(b"\x1f\x8b"):
        return zlib.decompress(raw, wbits=47)
    return raw


def write_multistream(src_path: str, out_path: str, *, pages_per_stream: int = 100) -> Tuple[str, str]:
    """Re-pack a UTF-8 dump (plain, bz2, xz or gz) as a multistream dump: the header (``<mediawiki>`` + siteinfo)
    in stream 0, ``pages_per_stream`` pages per following bz2 stream, ``</mediawiki>`` in the last one, plus the
    index ``offset:page_id:title`` under Wikimedia's name for it, which the reader finds by itself. ``out_path``
    ends in ``-multistream.xml.bz2``; returns ``(out_path, index_path)``. Works in memory: for samples, not
    whole dumps."""
    if not out_path.endswith(_SUFFIX):
        raise ValueError(f"{out_path}: a multistream dump's name ends in {_SUFFIX}")
    with open(src_path, "rb") as fh:
        raw = _decompressed(fh.read())
    matches = list(_PAGE_RE.finditer(raw))
    if not matches:
        raise ValueError(f"{src_path}: no <page> found")
    header = raw[: matches[0].start()]
    footer = raw[matches[-1].end():]
    streams = [header]
    index_lines: List[Tuple[int, bytes, bytes]] = []  # (stream ordinal, id, title)
    for i in range(0, len(matches), pages_per_stream):
        group = matches[i:i + pages_per_stream]
        ordinal = len(streams)
        for m in group:
            page = m.group(0)
            title = _TITLE_RE.search(page)
            page_id = _ID_RE.search(page)
            index_lines.append((ordinal, page_id.group(1) if page_id else b"0", title.group(1) if title else b""))
        streams.append(b"".join(m.group(0) for m in group))
    streams[-1] += footer
    compressed = [bz2.compress(s) for s in streams]
    offsets = [0]
    for c in compressed[:-1]:
        offsets.append(offsets[-1] + len(c))
    with open(out_path, "wb") as out:
        for c in compressed:
            out.write(c)
    # <title> holds XML-escaped titles; Wikimedia's index holds them raw.
    lines = [f"{offsets[o]}:{pid.decode()}:{html.unescape(t.decode('utf-8'))}" for o, pid, t in index_lines]
    index_path = out_path[: -len(".xml.bz2")] + "-index.txt.bz2"  # X-multistream-index.txt.bz2
    with open(index_path, "wb") as out:
        out.write(bz2.compress(("\n".join(lines) + "\n").encode("utf-8")))
    return out_path, index_path
