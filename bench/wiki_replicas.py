"""A dump's real pages replicated N times, each copy a wiki of its own, written as a multistream dump: the input
of the wiki_mrc benchmarks at N× the size of a real excerpt.

Copy 0 is the dump itself. Copy n renames every page (``Foo (band)`` → ``Foo~n (band)``: the marker goes before a
trailing qualifier, so a ``(disambiguation)`` title stays one and the unqualified name stays a name), shifts every
``<id>`` by ``n * ID_STRIDE``, and points every link and redirect to an article of the wiki at copy n's title of
that article. So links and redirects resolve within each copy exactly as in the original, and N copies have N
times the pages, link targets, entities and mentions, each entity with the original's number of mentions.
Renaming titles alone (what ``--repeat`` did before) would leave every copy's links on copy 0's titles: one set
of entities with N times the mentions each, a different workload from a wiki N times the size.

The page text is rewritten only inside article links: ``[[foo]]`` becomes ``[[Foo~n|foo]]``, ``[[Foo (band)|]]``
(the pipe trick) ``[[Foo~n (band)|Foo]]``, so each copy shows the same text with its anchors at the same offsets
(``same_parse`` checks this page by page). Links in other namespaces, interwiki and language links stay as
they are.
"""
from __future__ import annotations

import bz2
import re
from dataclasses import dataclass
from typing import Iterator, List, Optional, Tuple, Union
from xml.sax.saxutils import escape, unescape

from pipelines.wiki.titles import NamespaceTable, classify_link, pipe_trick

ID_STRIDE = 10 ** 9  # above any Wikipedia's page and revision ids (enwiki's pass 10^8 within a few years)
COPY_MARK = "~"  # between the title and the copy number; legal in titles, not in any sample title
_ATTR_ENTITIES = {'"': "&quot;"}
_UNESCAPE_ENTITIES = {"&quot;": '"', "&apos;": "'"}

_PAGE = re.compile(r"[ \t]*<page>.*?</page>\s*", re.S)
_QUALIFIER = re.compile(r"^(.*?\S)(\s*[(（][^()（）]*[)）])\s*$")
# What a copy rewrites in a page: its title, every <id>, the redirect target and every innermost [[link]] (a
# file's caption may hold links: those match, the file link around them does not).
_SLOTS = re.compile(r"<title>(?P<title>[^<]*)</title>"
                    r"|<id>(?P<id>\d+)</id>"
                    r"|<redirect title=\"(?P<redirect>[^\"]*)\""
                    r"|\[\[(?P<target>[^\[\]|\n]*)(?P<label>\|[^\[\]]*)?\]\]")


def copy_title(title: str, copy: int) -> str:
    """Copy ``copy``'s name for ``title`` (copy 0: the title itself)."""
    if copy == 0:
        return title
    m = _QUALIFIER.match(title)
    if m:
        return f"{m.group(1)}{COPY_MARK}{copy}{m.group(2)}"
    return f"{title}{COPY_MARK}{copy}"


@dataclass(frozen=True)
class _Title:
    """A slot holding an XML-escaped title (in ``<title>`` or a ``<redirect title="...">``)."""
    title: str
    attribute: bool

    def render(self, copy: int) -> str:
        name = copy_title(self.title, copy)
        if self.attribute:
            return f'<redirect title="{escape(name, _ATTR_ENTITIES)}"'
        return f"<title>{escape(name)}</title>"


@dataclass(frozen=True)
class _Id:
    value: int

    def render(self, copy: int) -> str:
        return f"<id>{self.value + copy * ID_STRIDE}</id>"


@dataclass(frozen=True)
class _Link:
    """An article link: its normalised target, and what the copy writes around it."""
    title: str
    colon: str
    fragment: str
    label: str  # "|..." as in the page (XML-escaped), so every copy shows the same text

    def render(self, copy: int) -> str:
        fragment = f"#{escape(self.fragment)}" if self.fragment else ""
        return f"[[{self.colon}{escape(copy_title(self.title, copy))}{fragment}{self.label}]]"


Part = Union[str, _Title, _Id, _Link]


class Replicator:
    """The pages of one dump, cut once into literal text and slots; ``copy(n)`` renders copy n."""

    def __init__(self, xml: str, table: NamespaceTable):
        pages = list(_PAGE.finditer(xml))
        if not pages:
            raise ValueError("no <page> in the dump")
        self.header = xml[:pages[0].start()]
        self.footer = xml[pages[-1].end():]
        self.table = table
        self.originals: List[str] = [m.group(0) for m in pages]
        self.pages: List[List[Part]] = [self._cut(text) for text in self.originals]

    @classmethod
    def of_dump(cls, path: str, lang: str = "en") -> "Replicator":
        from pipelines.wiki.dump import read_siteinfo
        data = open(path, "rb").read()
        if data[:3] == b"BZh":
            data = bz2.decompress(data)
        return cls(data.decode("utf-8"), NamespaceTable.from_siteinfo(read_siteinfo(path), lang))

    def _cut(self, page: str) -> List[Part]:
        parts: List[Part] = []
        at = 0
        for m in _SLOTS.finditer(page):
            slot = self._slot(m)
            if slot is None:
                continue
            parts.append(page[at:m.start()])
            parts.append(slot)
            at = m.end()
        parts.append(page[at:])
        return parts

    def _slot(self, m: "re.Match[str]") -> Optional[Part]:
        if m.group("title") is not None:
            return _Title(unescape(m.group("title"), _UNESCAPE_ENTITIES), attribute=False)
        if m.group("id") is not None:
            return _Id(int(m.group("id")))
        if m.group("redirect") is not None:
            target = classify_link(unescape(m.group("redirect"), _UNESCAPE_ENTITIES), self.table)
            if target.kind != "article" or not target.title:
                return None
            return _Title(target.title, attribute=True)
        raw, label = m.group("target"), m.group("label")
        target = classify_link(unescape(raw, _UNESCAPE_ENTITIES), self.table)
        if target.kind != "article" or not target.title:
            return None
        if label is None:  # [[foo]] shows "foo" as written
            label = "|" + raw.lstrip().removeprefix(":")
        elif label == "|":  # the pipe trick: [[Foo (band)|]] shows "Foo"
            label = "|" + escape(pipe_trick(unescape(raw, _UNESCAPE_ENTITIES)))
        return _Link(target.title, ":" if target.leading_colon else "", target.fragment, label)

    def page(self, index: int, copy: int) -> str:
        if copy == 0:  # the dump itself, byte for byte
            return self.originals[index]
        return "".join(p if isinstance(p, str) else p.render(copy) for p in self.pages[index])

    def copy_pages(self, copy: int) -> Iterator[str]:
        for index in range(len(self.pages)):
            yield self.page(index, copy)


def write_replicated(src: str, out_path: str, copies: int, lang: str = "en", pages_per_stream: int = 10,
                     replicator: Optional[Replicator] = None) -> Tuple[str, str, int]:
    """``src`` with ``copies`` copies of its pages, as a multistream dump (header stream, ``pages_per_stream``
    pages per bz2 stream, the footer in the last one, and Wikimedia's ``offset:id:title`` index next to it),
    written one stream at a time so that 50 copies of an excerpt never sit in memory at once. Returns
    ``(dump path, index path, pages written)``."""
    if copies < 1:
        raise ValueError("copies must be at least 1")
    if not out_path.endswith("-multistream.xml.bz2"):
        raise ValueError(f"{out_path}: a multistream dump's name ends in -multistream.xml.bz2")
    rep = replicator or Replicator.of_dump(src, lang)
    index_path = out_path[:-len(".xml.bz2")] + "-index.txt.bz2"
    offset, written = 0, 0
    index = bz2.BZ2Compressor()
    with open(out_path, "wb") as out, open(index_path, "wb") as index_out:
        def stream(text: str) -> None:
            nonlocal offset
            data = bz2.compress(text.encode("utf-8"))
            out.write(data)
            offset += len(data)

        stream(rep.header)
        group: List[str] = []
        pending = len(rep.pages) * copies
        for copy in range(copies):
            for text in rep.copy_pages(copy):
                group.append(text)
                pending -= 1
                if len(group) == pages_per_stream or pending == 0:
                    lines = []
                    for page in group:
                        title = re.search(r"<title>([^<]*)</title>", page)
                        page_id = re.search(r"<id>(\d+)</id>", page)
                        lines.append(f"{offset}:{page_id.group(1) if page_id else 0}:"
                                     f"{unescape(title.group(1), _UNESCAPE_ENTITIES) if title else ''}\n")
                    index_out.write(index.compress("".join(lines).encode("utf-8")))
                    written += len(group)
                    stream("".join(group) + (rep.footer if pending == 0 else ""))
                    group = []
        index_out.write(index.flush())
    return out_path, index_path, written


def differences(original, copy_page, copy: int, parser) -> List[str]:
    """How copy ``copy`` of a page (a ``pipelines.wiki.dump.Page``) differs from the original, beyond what the
    copy renames (empty: it reads the same): title, id and redirect target must be the copy's, and the page
    parser's text must be equal, with every anchor at the same offsets and on the copy's title of its target."""
    found = []
    if copy_page.title != copy_title(original.title, copy):
        found.append(f"title {copy_page.title!r} for {original.title!r}")
    if copy_page.page_id != original.page_id + copy * ID_STRIDE:
        found.append(f"id {copy_page.page_id} for {original.page_id}")
    if original.is_redirect:
        target = classify_link(original.redirect_target or "", parser.namespaces)
        expected = copy_title(target.title, copy) if target.kind == "article" else original.redirect_target
        if copy_page.redirect_target != expected:
            found.append(f"redirect to {copy_page.redirect_target!r}, not {expected!r}")
        return found
    if original.namespace != 0:
        return found
    before, after = parser.parse(original.text), parser.parse(copy_page.text)
    if before.text != after.text:
        at = next((i for i, (a, b) in enumerate(zip(before.text, after.text)) if a != b),
                  min(len(before.text), len(after.text)))
        found.append(f"text differs from character {at}: {after.text[at:at + 40]!r} for {before.text[at:at + 40]!r}")
    expected = [(a.start, a.end, copy_title(a.target, copy)) for a in before.anchors]
    got = [(a.start, a.end, a.target) for a in after.anchors]
    if got != expected:
        wrong = next((g, e) for g, e in zip(got + [None] * len(expected), expected + [None] * len(got)) if g != e)
        found.append(f"{len(got)} anchors for {len(expected)}; first difference {wrong[0]} for {wrong[1]}")
    return found
