"""mwparserfromhell's node tree built from its C tokenizer's tokens, for the wikitext walk of
:mod:`pipelines.wiki.wikitext`.

Why this exists: mwparserfromhell's C tokenizer is fast, but its pure-Python Builder, which turns the tokens into
the node tree, took ~60% of the CPU of converting a page (shared English article dump: tokenizer 0.87 CPU s,
Builder 1.85, our walk 0.33), more than the tokenizer and the walk together. :class:`_TreeBuilder` builds the
same node classes from the same tokens, setting their fields directly and leaving out what the walk never reads;
with the cyclic collector paused meanwhile, a page converts in under a third of the CPU
(``bench/wikitext_parse.py``: same output on all 1206 pages of the shared dumps and the sample).

What it relies on from the walk (duck-typed, so this module does not import it): ``walker.renders(name)``, whether
the walk reads the parameters of a template of this name; ``walker.skipped_tags``, tag names whose contents it
never looks at; and, for the self-check, ``walker.walk(nodes)`` and ``walker.result()``.

Because :class:`_TreeBuilder` sets private fields of mwparserfromhell's nodes, :func:`builder_matches` checks it
against the stock Builder once a process; :data:`TREE_BUILDERS` names both ways of building the tree.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, FrozenSet

import mwparserfromhell
from mwparserfromhell.nodes import (Argument, Comment, ExternalLink, Heading, HTMLEntity, Tag, Template, Text,
                                    Wikilink)
from mwparserfromhell.nodes.extras import Attribute, Parameter
from mwparserfromhell.parser import Parser as _StockParser, ParserError, tokens as _T
from mwparserfromhell.wikicode import Wikicode

__all__ = ["TREE_BUILDERS", "TreeBuild", "builder_matches", "tag_name"]

# mwparserfromhell's C tokenizer is fast; its pure-Python Builder is not (about twice the tokenizer's CPU, see the
# module docstring), most of it spent in node constructors whose property setters route every child through
# parse_anything() (four function-level imports a call) and in SmartList wrappers. _TreeBuilder reads the same
# token list into the same node classes, with the fields set directly, and does not build what the walk throws
# away unseen: the parameters of templates that render nothing, the contents of dropped tags (<ref>, tables,
# galleries ...), headings, comments and arguments. Where the walk takes str() of a subtree (link titles and
# texts, template names) everything is built exactly. builder_matches() checks this against the stock Builder
# at first use and the stock path is taken if they ever disagree (another mwparserfromhell version).

_new = object.__new__
_OPENERS = frozenset((_T.TemplateOpen, _T.ArgumentOpen, _T.WikilinkOpen, _T.ExternalLinkOpen, _T.HeadingStart,
                      _T.CommentStart, _T.TagOpenOpen, _T.HTMLEntityStart))
_CLOSERS = frozenset((_T.TemplateClose, _T.ArgumentClose, _T.WikilinkClose, _T.ExternalLinkClose, _T.HeadingEnd,
                      _T.CommentEnd, _T.TagCloseSelfclose, _T.TagCloseClose, _T.HTMLEntityEnd))
_TEMPLATE_STOPS = frozenset((_T.TemplateParamSeparator, _T.TemplateClose))
_PARAM_STOPS = frozenset((_T.TemplateParamEquals, _T.TemplateParamSeparator, _T.TemplateClose))
_LINK_STOPS = frozenset((_T.WikilinkSeparator, _T.WikilinkClose))
_EXT_STOPS = frozenset((_T.ExternalLinkSeparator, _T.ExternalLinkClose))
_ARG_STOPS = frozenset((_T.ArgumentSeparator, _T.ArgumentClose))
_TAG_NAME_STOPS = frozenset((_T.TagAttrStart, _T.TagCloseOpen, _T.TagCloseSelfclose))
_ATTR_STOPS = frozenset((_T.TagAttrEquals, _T.TagAttrQuote, _T.TagAttrStart, _T.TagCloseOpen,
                         _T.TagCloseSelfclose))
_TAG_BODY_STOPS = frozenset((_T.TagOpenClose, _T.TagCloseClose))


def _code(nodes: list) -> Wikicode:
    code = _new(Wikicode)
    code._nodes = nodes
    return code


def _text(value: str) -> Text:
    node = _new(Text)
    node._value = value
    return node


def tag_name(tag: Wikicode) -> str:
    """A tag's name as the walk compares it: ``tag.strip_code().strip().lower()``, without strip_code's
    machinery for the usual name of one Text node (where it would only strip newlines and collapse runs of
    three, which no tag name has)."""
    nodes = tag.nodes
    if len(nodes) == 1 and type(nodes[0]) is Text:
        value = nodes[0].value
        if "\n\n\n" not in value:
            return value.strip().lower()
    return tag.strip_code().strip().lower()


class _TreeBuilder:
    """One page's token list → Wikicode. ``renders`` says from a template's name whether the walk will read its
    parameters; ``skipped_tags`` names the tags whose contents it never looks at (compared as :func:`tag_name`)."""
    __slots__ = ("toks", "i", "full", "renders", "skipped_tags")

    def __init__(self, toks: list, renders: Callable[[Wikicode], bool], skipped_tags: FrozenSet[str]):
        self.toks = toks
        self.i = 0
        self.full = 0  # > 0 inside a subtree whose str() the walk takes: build everything
        self.renders = renders
        self.skipped_tags = skipped_tags

    def build(self) -> Wikicode:
        return _code(self.nodes(None))

    def nodes(self, stops) -> list:
        """Nodes up to (not including) the first token of a type in ``stops`` at this level."""
        toks, n, i = self.toks, len(self.toks), self.i
        out: list = []
        append = out.append
        handlers = _BUILD
        text_token = _T.Text
        new, text_node = _new, Text
        while i < n:
            tok = toks[i]
            kind = type(tok)
            if kind is text_token:  # most tokens: inlined _text(), and the token read as the dict it is
                node = new(text_node)
                node._value = tok["text"]
                append(node)
                i += 1
                continue
            if stops is not None and kind in stops:
                self.i = i
                return out
            handler = handlers.get(kind)
            if handler is None:
                raise ParserError(f"unexpected {kind.__name__}")
            self.i = i + 1
            append(handler(self, tok))
            i = self.i
        self.i = i
        if stops is not None:
            raise ParserError("missed a close token")
        return out

    def skip(self) -> None:
        """Consume tokens up to and including the close of the construct whose opener was just read."""
        toks, depth, i, n = self.toks, 1, self.i, len(self.toks)
        while i < n:
            kind = type(toks[i])
            i += 1
            if kind in _OPENERS:
                depth += 1
            elif kind in _CLOSERS:
                depth -= 1
                if not depth:
                    self.i = i
                    return
        raise ParserError("missed a close token")

    def expect(self, kind) -> object:
        tok = self.toks[self.i]
        if type(tok) is not kind:
            raise ParserError(f"expected {kind.__name__}, got {type(tok).__name__}")
        self.i += 1
        return tok

    # Handlers: called with the opening token consumed -----------------------------------------------------
    def template(self, tok) -> Template:
        self.full += 1
        name = _code(self.nodes(_TEMPLATE_STOPS))
        self.full -= 1
        node = _new(Template)
        node._name = name
        node._params = params = []
        if type(self.toks[self.i]) is _T.TemplateClose:
            self.i += 1
            return node
        if not self.full and not self.renders(name):
            self.i += 1
            self.skip()
            return node
        default = 1
        toks = self.toks
        while type(toks[self.i]) is _T.TemplateParamSeparator:
            self.i += 1
            key, showkey = None, False
            value = self.nodes(_PARAM_STOPS)
            while type(toks[self.i]) is _T.TemplateParamEquals:  # as the stock Builder: the last '=' wins
                self.i += 1
                key, showkey = value, True
                value = self.nodes(_PARAM_STOPS)
            param = _new(Parameter)
            param._name = _code(key) if key is not None else _code([_text(str(default))])
            param._value = _code(value)
            param._showkey = showkey
            params.append(param)
            if not showkey:
                default += 1
        self.expect(_T.TemplateClose)
        return node

    def wikilink(self, tok) -> Wikilink:
        self.full += 1
        title = self.nodes(_LINK_STOPS)
        text = None
        while type(self.toks[self.i]) is _T.WikilinkSeparator:
            self.i += 1
            if text is not None:
                title = text
            text = self.nodes(_LINK_STOPS)
        self.expect(_T.WikilinkClose)
        self.full -= 1
        node = _new(Wikilink)
        node._title = _code(title)
        node._text = None if text is None else _code(text)
        return node

    def tag(self, tok) -> Tag:
        wiki_markup = tok.wiki_markup
        name = _code(self.nodes(_TAG_NAME_STOPS))
        if not self.full and (wiki_markup == "{|" or (
                wiki_markup is None and tag_name(name) in self.skipped_tags)):
            self.skip()
            node = _new(Tag)
            node._tag = node._closing_tag = name
            node._wiki_markup = node._closing_wiki_markup = wiki_markup or None
            return node
        attrs = []
        toks = self.toks
        while type(toks[self.i]) is _T.TagAttrStart:
            attrs.append(self.attribute(toks[self.i]))
        closing_wiki_markup = wiki_markup
        contents = closing_tag = None
        padding, implicit, self_closing, separator = "", False, False, None
        end = toks[self.i]
        self.i += 1
        if type(end) is _T.TagCloseOpen:
            separator = end.wiki_markup
            padding = end.padding or ""
            contents = self.nodes(_TAG_BODY_STOPS)
            if type(toks[self.i]) is _T.TagOpenClose:
                closing_wiki_markup = toks[self.i].wiki_markup
                self.i += 1
                closing_tag = self.nodes(_TAG_BODY_STOPS)
            else:
                closing_tag, contents = contents, None  # as the stock Builder: no TagOpenClose
            self.expect(_T.TagCloseClose)
        elif type(end) is _T.TagCloseSelfclose:
            closing_wiki_markup = end.wiki_markup
            self_closing = True
            padding = end.padding or ""
            implicit = end.implicit or False
        else:
            raise ParserError(f"unexpected {type(end).__name__} in a tag")
        if padding and not str(padding).isspace():
            raise ValueError("padding must be entirely whitespace")
        node = _new(Tag)
        node._tag = name
        node._closing_tag = name if closing_tag is None else _code(closing_tag)
        node._contents = _code(contents or [])
        node._attrs = attrs
        node._wiki_markup = str(wiki_markup) if wiki_markup else None
        node._closing_wiki_markup = (str(closing_wiki_markup) if closing_wiki_markup else None) \
            if closing_wiki_markup is not None else node._wiki_markup
        node._self_closing = self_closing
        node._invalid = bool(tok.invalid)
        node._implicit = bool(implicit)
        node._padding = str(padding) if padding else ""
        node._wiki_style_separator = str(separator) if separator else None
        return node

    def attribute(self, start) -> Attribute:
        self.i += 1
        name, quotes = None, None
        value = self.nodes(_ATTR_STOPS)
        toks = self.toks
        while True:
            kind = type(toks[self.i])
            if kind is _T.TagAttrEquals:
                self.i += 1
                name, value = value, []
                value = self.nodes(_ATTR_STOPS)
            elif kind is _T.TagAttrQuote:
                quotes = toks[self.i].char
                self.i += 1
                value += self.nodes(_ATTR_STOPS)
            else:
                break
        name = None if name is None else _code(name)
        if name:  # Wikicode is falsy when its text is empty, as in the stock Builder
            value = _code(value)
        else:
            name, value = _code(value), None
        return Attribute(name, value, quotes, start.pad_first, start.pad_before_eq, start.pad_after_eq)

    def external_link(self, tok) -> ExternalLink:
        url = self.nodes(_EXT_STOPS)
        title, suppress_space = None, None
        while type(self.toks[self.i]) is _T.ExternalLinkSeparator:
            suppress_space = self.toks[self.i].suppress_space
            self.i += 1
            if title is not None:
                url = title
            title = self.nodes(_EXT_STOPS)
        self.expect(_T.ExternalLinkClose)
        return ExternalLink(_code(url), None if title is None else _code(title), brackets=tok.brackets,
                            suppress_space=suppress_space is True)

    def entity(self, tok) -> HTMLEntity:
        toks = self.toks
        first = toks[self.i]
        self.i += 1
        if type(first) is _T.HTMLEntityNumeric:
            second = toks[self.i]
            self.i += 1
            if type(second) is _T.HTMLEntityHex:
                text = toks[self.i]
                self.i += 2
                return HTMLEntity(text.text, named=False, hexadecimal=True, hex_char=second.char)
            self.i += 1
            return HTMLEntity(second.text, named=False, hexadecimal=False)
        self.i += 1
        return HTMLEntity(first.text, named=True, hexadecimal=False)

    def heading(self, tok) -> Heading:
        if not self.full:
            self.skip()
            return _new(Heading)  # the walk only counts it
        title = self.nodes(frozenset((_T.HeadingEnd,)))
        self.i += 1
        return Heading(_code(title), tok.level)

    def comment(self, tok) -> Comment:
        if not self.full:
            self.skip()
            return _new(Comment)
        contents = self.nodes(frozenset((_T.CommentEnd,)))
        self.i += 1
        return Comment(str(_code(contents)))

    def argument(self, tok) -> Argument:
        if not self.full:
            self.skip()
            return _new(Argument)
        name = self.nodes(_ARG_STOPS)
        default = None
        while type(self.toks[self.i]) is _T.ArgumentSeparator:
            self.i += 1
            if default is not None:
                name = default
            default = self.nodes(_ARG_STOPS)
        self.expect(_T.ArgumentClose)
        return Argument(_code(name), None if default is None else _code(default))


_BUILD = {_T.TemplateOpen: _TreeBuilder.template, _T.WikilinkOpen: _TreeBuilder.wikilink,
          _T.TagOpenOpen: _TreeBuilder.tag, _T.ExternalLinkOpen: _TreeBuilder.external_link,
          _T.HTMLEntityStart: _TreeBuilder.entity, _T.HeadingStart: _TreeBuilder.heading,
          _T.CommentStart: _TreeBuilder.comment, _T.ArgumentOpen: _TreeBuilder.argument}


def _tokenize(wikitext: str) -> list:
    # The tokenizer the stock parser would use (the C one when built), fresh per page as mwparserfromhell.parse
    # does.
    return _StockParser()._tokenizer.tokenize(wikitext, 0, False)


# Every node kind, nested in link titles, link texts and template names (built exactly) and outside them
# (where parts are skipped): the walk's result over both builders must be the same.
_PROBE = """'''Bold''' ''it'' [[Link (x)|te{{lang|fr|xt}}]]s [[:Category:C]] [[File:F.jpg|thumb|cap [[in]]]] &amp;
&#233; &#x00E9; {{lang-grc|Ἀχ}} {{convert|3|km}} {{#if:a|b}} {{Infobox|a=[[b]]|c}} {{{arg|def}}} <!-- c -->
== Head [[h]] ==
* item <span class="x" style='y' z>span</span> <ref name=r>ref [[r]]</ref><br/> <ref name=q />
{| class="t"
| cell [[c]]
|}
<div>block</div> [http://e.org label] http://bare.org [[a{{b|c=d}}<!--x-->|]] [[X|y|z]] <b>bo</b> ----
__NOTOC__ {{nowrap|a [[b]] c}} <gallery>g.jpg</gallery> x<nowiki>[[n]]</nowiki>y"""
_BUILDER_OK: Dict[Callable, bool] = {}


def builder_matches(new_walker: Callable[[], object]) -> bool:
    """Whether _TreeBuilder reproduces the stock Builder with the installed mwparserfromhell, judged by what
    the walkers ``new_walker()`` makes get out of :data:`_PROBE` (checked once a process per ``new_walker``:
    it sets the nodes' private fields, which another release may name differently)."""
    if new_walker not in _BUILDER_OK:
        try:
            stock = new_walker()
            stock.walk(mwparserfromhell.parse(_PROBE).nodes)
            ours = new_walker()
            ours.walk(_TreeBuilder(_tokenize(_PROBE), ours.renders, ours.skipped_tags).build().nodes)
            full = _TreeBuilder(_tokenize(_PROBE), lambda name: True, frozenset())
            full.full = 1
            same = (stock.result() == ours.result()
                    and str(full.build()) == str(mwparserfromhell.parse(_PROBE)) == _PROBE)
        except Exception:
            same = False
        _BUILDER_OK[new_walker] = same
    return _BUILDER_OK[new_walker]


@dataclass(frozen=True)
class TreeBuild:
    build: Callable  # (wikitext, walker) -> Wikicode
    collector_off: bool  # cyclic garbage collector paused during the conversion (see parse_wikitext)


# How the node tree is built, by name. "tokens" (the default) falls back to "stock" where builder_matches() says
# it does not reproduce the installed mwparserfromhell. "stock" is the conversion as it was before _TreeBuilder
# (mwparserfromhell's Builder, collector running): the fallback, and the baseline of bench/wikitext_parse.py.
TREE_BUILDERS = {
    "tokens": TreeBuild(lambda wikitext, walker: _TreeBuilder(_tokenize(wikitext), walker.renders,
                                                              walker.skipped_tags).build(), True),
    "stock": TreeBuild(lambda wikitext, walker: mwparserfromhell.parse(wikitext), False),
}
