"""Wikitext → plain text with anchors, using mwparserfromhell's C tokenizer and our own tree walk.

``strip_code()`` is not used: it keeps ``<ref>`` contents and file captions. Instead :class:`_Walker` visits the
node tree and decides per node type. The tree comes from :mod:`pipelines.wiki.tree`, not mwparserfromhell's
own Builder: the same nodes from the same tokens at a fraction of the page's cost, leaving out what the walk never
reads.

============================  =====================================================================================
node                          output
============================  =====================================================================================
Text, HTML entities           kept; whitespace collapsed (see below); stray markup the parser left as text
                              (unbalanced ``{{ }} [[ ]] {| |} ''`` and HTML-like tags) removed and counted
``[[article]]``               its displayed text; an :class:`Anchor` ``[start, end)`` over it, link trail included
``[[Category:]]`` ``[[File:]]``  nothing (files with their captions); ``[[:Category:X]]`` shows its text, no anchor
``[[fr:X]]``                  nothing (language link); ``[[:fr:X|y]]``, ``[[wikt:x|y]]`` show ``y``, no anchor
``[[Help:X|y]]``              ``y`` (other namespace), no anchor
templates, ``{{{args}}}``     nothing, except a few inline-text templates (``lang``, ``nowrap``, ``convert`` ...)
``<ref>``, tables, galleries,
math, code blocks, comments   nothing
``'''b'''``, ``''i''``, <b> … text kept (bold spans feed :attr:`WikiText.bold_aliases`)
headings                      **left out**, replaced by a paragraph break: MRC contexts are windows of running
                              words, and a heading ("Early life", "See also") inside one is noise that reads as
                              part of a sentence; headings almost never hold links
lists (``*``, ``#``, ``;``)   the item text, one item per line
external links                ``[http://x label]`` → ``label``; bare or unlabeled URLs dropped
============================  =====================================================================================

Whitespace: a run of whitespace becomes ``" "``, ``"\\n"`` if it held one newline, ``"\\n\\n"`` (paragraph break)
if it held two or more or a block (heading, table, paragraph tag) was removed there; no leading/trailing
whitespace. Offsets are computed while the text is written, so ``text[a.start:a.end]`` is exactly the anchor's
displayed text and never starts or ends with whitespace.

Link trails: letters directly after ``]]`` belong to the link as MediaWiki renders it (``[[dog]]s`` → "dogs").
Which letters count is per language (MediaWiki's ``$linkTrail``), see :data:`LINK_TRAILS`.

Guard against pathological input: :func:`parse_wikitext` bounds the page's size only (``max_chars``, checked
before parsing, reason ``too_large``); the time and memory bounds are those of
:class:`pipelines.wiki.parser_process.WikiTextParser`, which runs this conversion in a child process.
"""
from __future__ import annotations

import bisect
import gc
import html
import re
import time
import unicodedata
from collections import Counter
from functools import lru_cache
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from mwparserfromhell.nodes import (Argument, Comment, ExternalLink, Heading, HTMLEntity, Tag, Template, Text,
                                    Wikilink)
from mwparserfromhell.wikicode import Wikicode

from pipelines.wiki.titles import NS_FILE, NS_MEDIA, NamespaceTable, classify_link, pipe_trick, template_name
from pipelines.wiki.tree import TREE_BUILDERS, builder_matches, tag_name

__all__ = ["Anchor", "WikiText", "parse_wikitext", "skipped_page", "LINK_TRAILS", "uses_c_tokenizer",
           "tree_builder_in_use", "DEFAULT_MAX_CHARS"]


def uses_c_tokenizer() -> bool:
    """True when mwparserfromhell's C tokenizer is active (the pure-Python one is ~10× slower)."""
    from mwparserfromhell import parser as _p
    return bool(getattr(_p, "use_c", False)) and _p.Parser()._tokenizer.__class__.__name__ == "CTokenizer"


# ---------------------------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Anchor:
    """An internal link to a main-namespace page: ``text[start:end]`` is what the reader sees (trail
    included), ``target`` the normalised title (not yet redirect-resolved)."""
    start: int
    end: int
    target: str

    def __reduce__(self):
        # Anchors cross the pipe from the parser process by the thousand: rebuilding them from their fields is
        # 3x faster to unpickle than the generated __setstate__ of a frozen slots dataclass (one fields() call
        # per anchor).
        return type(self), (self.start, self.end, self.target)


@dataclass(slots=True)
class WikiText:
    """Plain text of one page with its anchors. ``skipped`` is the reason when the page could not be
    converted (``too_large``, ``timeout``, ``memory_limit``, ``parser_error``, ``worker_crashed``); then
    ``text`` is empty.

    ``bold_aliases``: bold text of the lead paragraph (``'''Mercury''' is ...`` → ``("Mercury",)``), in order.
    ``templates``: normalised names of the templates used (for disambiguation detection), first-seen order.
    ``magic_words``: behaviour switches like ``__DISAMBIG__``. ``counters``: what was dropped and why."""
    text: str = ""
    anchors: List[Anchor] = field(default_factory=list)
    bold_aliases: Tuple[str, ...] = ()
    templates: Tuple[str, ...] = ()
    magic_words: Tuple[str, ...] = ()
    counters: Dict[str, int] = field(default_factory=dict)
    skipped: Optional[str] = None

    @property
    def ok(self) -> bool:
        return self.skipped is None

    def anchor_text(self, anchor: Anchor) -> str:
        return self.text[anchor.start:anchor.end]


# ---------------------------------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------------------------------

def _script_class(first: int, last: int) -> str:
    """A regex character class body of the letters and combining marks of the block [first, last] (no digits,
    no punctuation such as the danda), with ZWNJ/ZWJ, which Indic words carry inside them."""
    chars = [chr(c) for c in range(first, last + 1) if unicodedata.category(chr(c))[0] in "LM"]
    return "".join(re.escape(c) for c in chars) + "\u200c\u200d"


# MediaWiki's $linkTrail character classes (MessagesXx.php: letters directly after "]]" that join the link). Latin,
# Greek and Cyrillic: lowercase letters only, as MediaWiki does ("[[dog]]S" has no trail). Indic scripts: the
# block's letters and vowel signs, so "[[ইউরোপ]]ের" is one anchor "ইউরোপের" and no answer ends inside a word
# (MediaWiki's Bengali/Hindi/Telugu trails take their script the same way). Arabic: the letters and the short
# vowels. "" = no link trail: languages written without spaces (ja, zh, th), where a particle or the next word
# follows the link directly. Korean keeps MediaWiki's default (a-z): particles (서울에서) are not part of the
# link. Written from the scripts' Unicode blocks, not copied; entries marked "# ?" are less certain.
LINK_TRAILS: Dict[str, str] = {
    "en": "a-z", "id": "a-z", "sw": "a-z", "ko": "a-z", "th": "",
    "hi": "a-z" + _script_class(0x0900, 0x097F), "bn": "a-z" + _script_class(0x0980, 0x09FF),
    "te": "a-z" + _script_class(0x0C00, 0x0C7F),
    "de": "a-zäöüß", "fr": "a-zàâçéèêîôûäëïöüùœæ", "es": "a-záéíóúñü", "it": "a-zàéèíîìóòúù",
    "pt": "a-záâãàéêẽçíòóôõúüűũ", "nl": "a-zäöüïëéèà", "pl": "a-zęóąśłżźćń", "sv": "a-zåäöé", "fi": "a-zäö",
    "tr": "a-zçğıöşüâîû", "ru": "a-zа-яё", "el": "a-zα-ωάέήίόύώϊϋΐΰς", "ar": "a-z\u0621-\u064a\u064b-\u0652\u0670",
    "vi": "a-zàáâãèéêìíòóôõùúýăđĩũơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ",  # ?
    "ja": "", "zh": "",
}

_DROP_TAGS = frozenset("""
ref references gallery imagemap timeline math chem ce score graph mapframe maplink templatedata templatestyles
syntaxhighlight source pre hiero inputbox categorytree section includeonly style script table caption tr td th
tbody thead tfoot indicator charinsert phonos rss dynamicpagelist inputbox noexport
""".split())
_BLOCK_TAGS = frozenset("p div blockquote center poem h1 h2 h3 h4 h5 h6 ul ol dl hr".split())
_BOLD_TAGS = frozenset(("b", "strong"))

# Templates that render (part of) their arguments inline: name (case-folded) -> positional args kept.
# -1 = the last positional argument. Everything else is dropped.
_TEXT_TEMPLATES: Dict[str, Tuple[int, ...]] = {
    "lang": (-1,), "nowrap": (1,), "nobr": (1,), "small": (1,), "smaller": (1,), "big": (1,),
    "nobold": (1,), "noitalic": (1,), "transl": (-1,), "convert": (1, 2), "cvt": (1, 2), "nihongo": (1,),
    "sortname": (1, 2), "ill": (1,), "interlanguage link": (1,), "vr": (1,), "script": (-1,),
}

# Whitespace that needs collapsing inside a piece of text: runs of 2+, or a single non-space (\n, \t, nbsp ...).
_WS_INNER = re.compile(r"\s{2,}|[^\S ]")


def _level(ws: str) -> int:
    nl = ws.count("\n")
    return _PARA if nl >= 2 else _LINE if nl == 1 else _SPACE


def _collapse(m: "re.Match[str]") -> str:
    nl = m.group(0).count("\n")
    return "\n\n" if nl >= 2 else "\n" if nl == 1 else " "
# Markup that mwparserfromhell left as text because it was unbalanced/malformed.
_STRAY_RE = re.compile(
    r"\{\{|\}\}|\[\[|\]\]|\{\||\|\}|^[ \t]*\|[-+]|'{2,}|</?[A-Za-z][A-Za-z0-9]*(?:\s[^<>]{0,500})?/?>|<!--.*?(?:-->|$)",
    re.M | re.S)
_STRAY_HINT = re.compile(r"[{}\[\]<|]|''")
_MAGIC_RE = re.compile(r"__([^\W_]+(?:_[^\W_]+)*)__")

_PARA, _LINE, _SPACE = 3, 2, 1

# Tidy-up of parentheses emptied by dropped templates; (pattern, replacement) applied in order.
# The third field: a match also takes the spaces and tabs just before it (at most back to the previous match).
# "[ \t]*" at a pattern's head would do the same, but then every space of the page is a start the regex engine
# tries: 0.9 s of 4.8 s on the test dumps' pages.
_TIDY = (
    (re.compile(r"\((?:[ \t]*[;,:][ \t]*)+"), "(", False),   # "(; , Akhilleus" -> "(Akhilleus"
    (re.compile(r"[;,:][ \t;,:]*\)"), ")", True),             # "Akhilleus, )" -> "Akhilleus)"
    (re.compile(r"\([ \t]*\)"), "", True),                   # "Achilles ()" -> "Achilles"
)


# Lines of output that are markup, by kind (see _Walker._residue). A navigation bar is a line of at least two items
# of at most 50 characters separated by " | "; running text never is one.
_RESIDUE = (
    ("table_row", re.compile(r"^[ \t]*[|!]")),
    ("template_parameter", re.compile(r"\|[ \t]*[^\s|=\[\]{}][^|=\[\]{}\n]{0,40}?[ \t]*=")),
    ("attribute", re.compile(r"\b(?:style|class|bgcolor)[ \t]*=[ \t]*[\"']|"
                             r"\b(?:align|valign|colspan|rowspan|cellpadding|cellspacing|border|width)[ \t]*=[ \t]*"
                             r"[\"']?[\w#]", re.I)),
    ("navigation_bar", re.compile(r"^[^|\n]{1,50}(?: \| [^|\n]{1,50})+$")),
)
_MEDIA_EXTENSIONS = "jpe?g|png|svg|gif|tiff?|webp|xcf|ogg|ogv|oga|webm|mp3|wav|flac|midi?|pdf|djvu"


@lru_cache(maxsize=64)
def _file_residue(names: Tuple[str, ...]) -> "re.Pattern[str]":
    """A file link's text under one of the file namespace's names: ``Name:anything.jpg``."""
    alternatives = "|".join(re.escape(n).replace("\\ ", "[ _]") for n in sorted(names, key=len, reverse=True))
    return re.compile(rf"(?:{alternatives})[ \t]*:[^\n|\]]*\.(?:{_MEDIA_EXTENSIONS})\b", re.I)


def _residue_kind(line: str, file_re: "re.Pattern[str]") -> Optional[str]:
    if not line:
        return None
    for kind, pattern in _RESIDUE:
        if pattern.search(line):
            return kind
    if ":" in line and file_re.search(line):
        return "file_link"
    return None


# ---------------------------------------------------------------------------------------------------------------
# Output buffer with exact offsets
# ---------------------------------------------------------------------------------------------------------------

class _Out:
    """Collects text, collapsing whitespace lazily: whitespace is remembered as a level and written (as one
    separator) only before the next visible character, so it never ends up at the start/end of the text or
    inside an anchor's edges. Open captures get their start at the first visible character written."""
    __slots__ = ("parts", "length", "pending", "captures")

    def __init__(self):
        self.parts: List[str] = []
        self.length = 0
        self.pending = 0
        self.captures: List[List[Optional[int]]] = []

    def ws(self, level: int) -> None:
        if level > self.pending:
            self.pending = level

    def write(self, s: str) -> None:
        if not s:
            return
        core = s.strip()
        if not core:
            self.ws(_level(s))
            return
        if s[0].isspace():
            self.ws(_level(s[: len(s) - len(s.lstrip())]))
        if _WS_INNER.search(core):
            core = _WS_INNER.sub(_collapse, core)
        self._visible(core)
        if s[-1].isspace():
            self.ws(_level(s[len(s.rstrip()):]))

    def _visible(self, piece: str) -> None:
        if self.pending:
            if self.length:
                sep = " " if self.pending == _SPACE else "\n" if self.pending == _LINE else "\n\n"
                self.parts.append(sep)
                self.length += len(sep)
            self.pending = 0
        for cap in self.captures:
            if cap[0] is None:
                cap[0] = self.length
        self.parts.append(piece)
        self.length += len(piece)

    def open(self) -> List[Optional[int]]:
        cap: List[Optional[int]] = [None]
        self.captures.append(cap)
        return cap

    def close(self, cap: List[Optional[int]]) -> Optional[Tuple[int, int]]:
        self.captures.remove(cap)
        return None if cap[0] is None else (cap[0], self.length)

    def text(self) -> str:
        return "".join(self.parts)


# ---------------------------------------------------------------------------------------------------------------
# The walk
# ---------------------------------------------------------------------------------------------------------------

def _rendered_arguments(name: str) -> Optional[Tuple[int, ...]]:
    """Positional arguments shown of a template with this normalised name (None: it renders nothing)."""
    folded = name.casefold()
    keep = _TEXT_TEMPLATES.get(folded)
    if keep is None and folded.startswith("lang-"):
        keep = (-1,)  # {{lang-grc|Ἀχιλλεύς}}: the foreign-language text
    return keep


class _Walker:
    skipped_tags = _DROP_TAGS  # tags whose contents tag() never looks at (the tree builder leaves them unbuilt)

    def __init__(self, table: NamespaceTable, lang: str):
        self.table = table
        self.lang = lang
        trail = LINK_TRAILS.get(lang.split("-")[0], "a-z")
        self.trail_re = re.compile(f"[{trail}]+") if trail else None
        self.out = _Out()
        self.counters: Counter = Counter()
        self.anchors: List[Anchor] = []
        self.bold_spans: List[Tuple[int, int]] = []
        self.templates: Dict[str, None] = {}
        self.magic: Dict[str, None] = {}

    # Text --------------------------------------------------------------------------------------------------
    def text(self, s: str) -> None:
        if "__" in s:
            s = _MAGIC_RE.sub(self._magic, s)
        if _STRAY_HINT.search(s):
            s, n = _STRAY_RE.subn(" ", s)
            if n:
                self.counters["stray_markup"] += n
        self.out.write(s)

    def _magic(self, m: "re.Match[str]") -> str:
        word = m.group(1)
        if word.upper() != word:  # "__init__" is text, not a behaviour switch
            return m.group(0)
        self.magic["__%s__" % word] = None
        return ""

    # Dispatch ----------------------------------------------------------------------------------------------
    def walk(self, nodes, in_link: bool = False) -> None:
        skip = 0
        n = len(nodes)
        for i in range(n):
            node = nodes[i]
            kind = type(node)
            if kind is Text:
                value = node.value
                if skip:
                    value = value[skip:]
                    skip = 0
                self.text(value)
            elif kind is Wikilink:
                nxt = nodes[i + 1] if i + 1 < n else None
                skip = self.link(node, nxt if type(nxt) is Text else None, in_link)
            elif kind is Tag:
                self.tag(node, in_link)
            elif kind is Template:
                self.template(node, in_link)
            elif kind is HTMLEntity:
                try:
                    self.out.write(node.normalize())
                except (ValueError, KeyError):
                    pass
            elif kind is Heading:
                self.counters["headings"] += 1
                self.out.ws(_PARA)
            elif kind is ExternalLink:
                self.counters["external_links"] += 1
                if node.brackets and node.title is not None:
                    self.walk(node.title.nodes, True)
            elif kind is Comment:
                self.counters["comments"] += 1
            elif kind is Argument:
                self.counters["arguments"] += 1
            else:  # future node types: keep their text representation out, but say so
                self.counters["unknown_nodes"] += 1

    # Links -------------------------------------------------------------------------------------------------
    def link(self, node: Wikilink, nxt: Optional[Text], in_link: bool) -> int:
        """Emit a wikilink; return how many characters of the next Text node were consumed as link trail."""
        c = self.counters
        c["links"] += 1
        raw = str(node.title)
        if "<!--" in raw:
            raw = re.sub(r"<!--.*?-->", "", raw, flags=re.S)
        target = classify_link(raw, self.table)
        kind = target.kind
        if kind in ("category", "file", "language") and not target.leading_colon:
            c["link_" + kind] += 1  # inclusions: categories, images with captions, sidebar language links
            return 0
        trail = ""
        if nxt is not None and self.trail_re is not None:
            m = self.trail_re.match(nxt.value)
            if m:
                trail = m.group(0)
        is_anchor = kind == "article" and not in_link
        if kind != "article":
            c["link_" + kind] += 1
        elif in_link:
            c["link_nested"] += 1
        cap = self.out.open() if is_anchor else None
        if node.text is None:
            self._unpiped(node, raw)
        elif not node.text.nodes or not str(node.text).strip():
            self.out.write(pipe_trick(raw))  # [[Mercury (planet)|]] -> "Mercury"
        else:
            self.walk(node.text.nodes, True)
        if trail:
            self.out.write(trail)
        if cap is not None:
            span = self.out.close(cap)
            if span is None:
                c["link_empty_text"] += 1
            else:
                c["anchors"] += 1
                self.anchors.append(Anchor(span[0], span[1], target.title))
        return len(trail)

    def _unpiped(self, node: Wikilink, raw: str) -> None:
        if "{" in raw or "<" in raw:
            self.walk(node.title.nodes, True)
            return
        shown = html.unescape(raw).strip()
        if shown.startswith(":"):
            shown = shown[1:]
        self.out.write(shown.replace("_", " "))

    # Tags --------------------------------------------------------------------------------------------------
    def tag(self, node: Tag, in_link: bool) -> None:
        markup = node.wiki_markup
        name = tag_name(node.tag) if markup is None else None
        if markup is not None:
            if markup == "{|":
                self.counters["tables"] += 1
                self.out.ws(_PARA)
                return
            if markup in ("'''", "''"):
                if node.contents is not None:
                    self._formatted(node, markup == "'''", in_link)
                return
            if markup == "----":
                self.out.ws(_PARA)
                return
            # list markers (* # ; :) carry no text of their own; the line's text follows as siblings
            if node.contents is not None:
                self.walk(node.contents.nodes, in_link)
            return
        if name == "ref":
            self.counters["refs"] += 1
            return
        if name in _DROP_TAGS:
            self.counters["dropped_tags"] += 1
            if name in ("table", "gallery", "pre", "syntaxhighlight", "source", "timeline", "imagemap"):
                self.out.ws(_PARA)
            return
        if name == "br":
            self.out.ws(_LINE)
            return
        if node.contents is None:
            if name in _BLOCK_TAGS:
                self.out.ws(_PARA)
            return
        if name in _BOLD_TAGS:
            self._formatted(node, True, in_link)
            return
        block = name in _BLOCK_TAGS
        if block:
            self.out.ws(_PARA)
        self.walk(node.contents.nodes, in_link)  # harmless formatting, nowiki, span, ... : keep the text
        if block:
            self.out.ws(_PARA)

    def _formatted(self, node: Tag, bold: bool, in_link: bool) -> None:
        if not bold or in_link:
            self.walk(node.contents.nodes, in_link)
            return
        cap = self.out.open()
        self.walk(node.contents.nodes, in_link)
        span = self.out.close(cap)
        if span is not None:
            self.bold_spans.append(span)

    # Templates ---------------------------------------------------------------------------------------------
    def template(self, node: Template, in_link: bool) -> None:
        c = self.counters
        raw_name = str(node.name)
        if raw_name.lstrip().startswith("#"):
            c["parser_functions"] += 1
            return
        name = template_name(raw_name, self.table)
        if not name:
            return
        self.templates[name] = None
        keep = _rendered_arguments(name)
        if keep is None:
            c["templates"] += 1
            return
        positional = [p for p in node.params if not p.showkey]
        emitted = False
        for index in keep:
            if index == -1:
                param = positional[-1] if positional else None
            else:
                param = positional[index - 1] if len(positional) >= index else None
            if param is not None:
                if emitted:
                    self.out.ws(_SPACE)
                self.walk(param.value.nodes, in_link)
                emitted = True
        c["templates_rendered"] += 1

    def renders(self, name: Wikicode) -> bool:
        """Whether :meth:`template` reads the parameters of a template of this name (for the tree builder)."""
        raw_name = str(name)
        if raw_name.lstrip().startswith("#"):
            return False
        name = template_name(raw_name, self.table)
        return bool(name) and _rendered_arguments(name) is not None

    # Result ------------------------------------------------------------------------------------------------
    def result(self) -> WikiText:
        text = self.out.text()
        if "|" in text or "=" in text or ":" in text:
            text = self._residue(text)
        if "(" in text:
            text = self._tidy(text)
        return WikiText(text=text, anchors=self.anchors, bold_aliases=self._aliases(text),
                        templates=tuple(self.templates), magic_words=tuple(self.magic),
                        counters=dict(self.counters))

    def _residue(self, text: str) -> str:
        """Remove whole lines that are wikitext the parser could not take apart, counted by kind
        (``residue_lines_<kind>``, :data:`_RESIDUE`): table rows and infobox parameters of a table or template
        left unclosed, attributes (``style="…"``), file links under any name of the file namespace this wiki
        has (from the dump's ``<siteinfo>``: চিত্র:, Αρχείο:, ファイル: …), and navigation bars (short items
        between `` | ``: "31 Δεκεμβρίου | 1 Ιανουαρίου | 2 Ιανουαρίου"). Anchors and bold text inside a removed
        line go with it (``residue_anchors``)."""
        file_names = [n for key in (NS_FILE, NS_MEDIA) for n in self.table.names_of(key)]
        file_re = _file_residue(tuple(sorted(file_names)))
        edits: List[Tuple[int, int, str]] = []
        pos = 0
        while pos < len(text):
            end = text.find("\n", pos)
            end = len(text) if end < 0 else end
            line = text[pos:end]
            kind = _residue_kind(line, file_re)
            if kind:
                self.counters["residue_lines_" + kind] += 1
                stop = end
                while stop < len(text) and text[stop] == "\n":
                    stop += 1
                start = pos
                if stop == len(text):  # the last line: take the line breaks before it instead
                    while start > 0 and text[start - 1] == "\n":
                        start -= 1
                edits.append((start, stop, ""))
            pos = end + 1
        if not edits:
            return text
        inside = lambda s, e: any(a <= s and e <= b for a, b, _ in edits)  # noqa: E731
        kept = [a for a in self.anchors if not inside(a.start, a.end)]
        self.counters["residue_anchors"] += len(self.anchors) - len(kept)
        self.anchors = kept
        self.bold_spans = [(s, e) for s, e in self.bold_spans if not inside(s, e)]
        return self._apply(text, edits)

    def _tidy(self, text: str) -> str:
        """Remove what dropped templates leave behind in parentheses: ``Achilles ({{IPA}}; {{lang-grc|…}})``
        reads "Achilles (; )". Edits that would touch an anchor are not made; offsets are shifted."""
        for pattern, replacement, with_blanks_before in _TIDY:
            edits: List[Tuple[int, int, str]] = []
            for m in pattern.finditer(text):
                start = m.start()
                if with_blanks_before:
                    floor = edits[-1][1] if edits else 0
                    while start > floor and text[start - 1] in " \t":
                        start -= 1
                edits.append((start, m.end(), replacement))
            if edits:
                text = self._apply(text, edits)
        return text

    def _apply(self, text: str, edits: List[Tuple[int, int, str]]) -> str:
        # Anchors never overlap each other (links inside link text are not anchors), so sorted by start they
        # are sorted by end too: only the last anchor starting before an edit's end can reach into it.
        spans = sorted((a.start, a.end) for a in self.anchors)
        starts = [s for s, _ in spans]
        keep: List[Tuple[int, int, str]] = []
        for start, end, repl in edits:
            i = bisect.bisect_left(starts, end)
            if i and spans[i - 1][1] > start:
                continue  # would cut into an anchor: leave it
            keep.append((start, end, repl))
        if not keep:
            return text
        pieces, cursor = [], 0
        bounds, shifts, total = [], [], 0
        for start, end, repl in keep:
            pieces.append(text[cursor:start])
            pieces.append(repl)
            cursor = end
            total += (end - start) - len(repl)
            bounds.append(end)
            shifts.append(total)

        def shift(pos: int) -> int:
            i = bisect.bisect_right(bounds, pos)
            return pos - (shifts[i - 1] if i else 0)

        pieces.append(text[cursor:])
        self.anchors = [Anchor(shift(a.start), shift(a.end), a.target) for a in self.anchors]
        self.bold_spans = [(shift(s), shift(e)) for s, e in self.bold_spans]
        return "".join(pieces)

    def _aliases(self, text: str) -> Tuple[str, ...]:
        """Bold text of the lead: the first paragraph that has bold text, if it starts in the first 2,000
        characters (infoboxes, hatnotes and images are already gone, so this is normally paragraph one)."""
        if not self.bold_spans:
            return ()
        first = self.bold_spans[0][0]
        if first > 2000:
            return ()
        para_start = text.rfind("\n", 0, first) + 1
        para_end = text.find("\n", first)
        if para_end < 0:
            para_end = len(text)
        seen: Dict[str, None] = {}
        for start, end in self.bold_spans:
            if para_start <= start < para_end:
                alias = " ".join(text[start:end].split()).strip(" ,;:")
                if alias and len(alias) <= 200:
                    seen[alias] = None
        return tuple(seen)[:10]


# ---------------------------------------------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------------------------------------------

DEFAULT_MAX_CHARS = 2_000_000  # a few enwiki lists are ~1.5M chars; anything bigger is an outlier


def skipped_page(reason: str) -> WikiText:
    """The result for a page not converted, counted under ``skipped_<reason>``."""
    return WikiText(skipped=reason, counters={"skipped_" + reason: 1})


def _probe_walker() -> _Walker:
    return _Walker(NamespaceTable.default("en"), "en")


def tree_builder_in_use(requested: str = "tokens") -> str:
    """The name of :data:`~pipelines.wiki.tree.TREE_BUILDERS` a conversion asking for ``requested`` gets:
    "tokens" falls back to "stock" where it does not reproduce the installed mwparserfromhell."""
    if requested not in TREE_BUILDERS:
        raise ValueError(f"unknown tree builder {requested!r}; one of {', '.join(TREE_BUILDERS)}")
    if requested == "tokens" and not builder_matches(_probe_walker):
        return "stock"
    return requested


def parse_wikitext(wikitext: str, lang: str = "en", namespaces: Optional[NamespaceTable] = None, *,
                   max_chars: int = DEFAULT_MAX_CHARS, tree_builder: str = "tokens") -> WikiText:
    """Convert one page inline (size bound only, no time bound; see
    :class:`pipelines.wiki.parser_process.WikiTextParser`). ``tree_builder``:
    a name of :data:`~pipelines.wiki.tree.TREE_BUILDERS` (the output is the same; "stock" is slower)."""
    if len(wikitext) > max_chars:
        return skipped_page("too_large")
    table = namespaces if namespaces is not None else NamespaceTable.default(lang)
    build = TREE_BUILDERS[tree_builder_in_use(tree_builder)]
    # The tree is tens of thousands of small containers and has no reference cycles (nodes do not point to
    # their parents), so it is freed by reference counts alone; the cyclic collector, triggered over and over
    # by those allocations, finds nothing and costs 25-45% of the conversion. It is off meanwhile (the
    # state is the process's: another thread's collections wait until this page is done).
    collecting = build.collector_off and gc.isenabled()
    if collecting:
        gc.disable()
    try:
        walker = _Walker(table, lang)
        walker.walk(build.build(wikitext, walker).nodes)
        return walker.result()
    except MemoryError:  # not a fault of the page's markup: the child answers memory_limit (see pipelines.wiki.parser_process)
        raise
    except RecursionError:
        return skipped_page("parser_error")
    except Exception:  # mwparserfromhell raises ParserError and, on odd input, assorted internal errors
        return skipped_page("parser_error")
    finally:
        if collecting:
            gc.enable()

