"""pipelines.wiki.wikitext and pipelines.wiki.titles: constructs one by one, then the real dumps and the sample."""
import pickle
import re
from collections import Counter
from pathlib import Path

import pytest

from pipelines.wiki.dump import read_pages, read_siteinfo
from pipelines.wiki.parser_process import WikiTextParser
from pipelines.wiki.titles import (DISAMBIGUATION, LANGUAGES, NamespaceTable, classify_link, is_disambiguation,
                                   normalize_title, pipe_trick, template_name, ucfirst)
from pipelines.wiki.wikitext import parse_wikitext, uses_c_tokenizer

SAMPLE = Path(__file__).resolve().parent.parent / "pipelines" / "samples" / "enwiki-sample.xml"
# Markup that must never reach the plain text.
LEAK_RE = re.compile(r"\{\{|\}\}|\[\[|\]\]|<ref|</ref|\{\||\|\}|<!--|-->|''|<br|<div|<span|__NOTOC__|\|-")


def anchors_of(result):
    return [(result.text[a.start:a.end], a.target) for a in result.anchors]


def check_offsets(result):
    for a in result.anchors:
        assert 0 <= a.start < a.end <= len(result.text)
        piece = result.text[a.start:a.end]
        assert piece == piece.strip() and piece


def test_c_tokenizer_is_used():
    assert uses_c_tokenizer()


# --- constructs ------------------------------------------------------------------------------------------------

def test_links_trails_and_pipes():
    r = parse_wikitext("A [[dog]]s and [[Cat|the cat]]ty, [[Mercury (planet)|]], [[house_boat#Hull]], "
                       "[[:Tree]], [[dog]]S, [[dog]]'s.")
    check_offsets(r)
    assert anchors_of(r) == [("dogs", "Dog"), ("the catty", "Cat"), ("Mercury", "Mercury (planet)"),
                             ("house boat#Hull", "House boat"), ("Tree", "Tree"), ("dog", "Dog"),
                             ("dog", "Dog")]
    assert r.text == "A dogs and the catty, Mercury, house boat#Hull, Tree, dogS, dog's."


def test_non_article_links_are_not_anchors():
    src = ("x [[Category:Birds]] [[File:A.jpg|thumb|A caption with [[Eagle]]]] [[Image:B.png|left|hidden]] "
           "[[fr:Oiseau]] [[:fr:Oiseau|French bird]] [[wikt:bird|bird word]] [[Help:Contents|help]] "
           "[[:Category:Birds|bird list]] [[#History|history]] [[Media:C.ogg]] y")
    r = parse_wikitext(src)
    assert r.anchors == []
    assert r.text == "x French bird bird word help bird list history y"
    c = r.counters
    assert (c["link_category"], c["link_file"], c["link_language"], c["link_interwiki"], c["link_namespace"],
            c["link_fragment"]) == (2, 3, 1, 2, 1, 1)
    assert "caption" not in r.text and "Eagle" not in r.text


def test_markup_is_dropped():
    src = """{{Infobox thing|name=X|a=[[Linked]]}}
'''X''' is a [[thing]].<ref name="a">Cited [[Source]] text.</ref><ref name="a"/> It <!-- hidden --> works{{citation needed|date=May}}.
{| class="wikitable"
|-
! Head
|-
| [[Cell]] || two
|}
<gallery>
A.jpg|Pic
</gallery>
<math>x^2</math> <b>bold [[Word]]</b> <small>small</small> <span style="x">span</span>
== Heading ==
Text with&nbsp;space &amp; [http://example.org label] http://bare.example.org __NOTOC__
* item one
# item two
"""
    r = parse_wikitext(src)
    check_offsets(r)
    assert LEAK_RE.search(r.text) is None
    for word in ("Cited", "Source", "Cell", "Head", "Pic", "x^2", "Heading", "hidden", "http", "Linked"):
        assert word not in r.text
    assert anchors_of(r) == [("thing", "Thing"), ("Word", "Word")]
    assert r.text == ("X is a thing. It works.\n\nbold Word small span\n\nText with space & label\n"
                      "item one\nitem two")
    assert r.bold_aliases == ("X",)
    assert r.magic_words == ("__NOTOC__",)
    assert {"Infobox thing", "Citation needed"} <= set(r.templates)
    assert r.counters["refs"] == 2 and r.counters["tables"] == 1 and r.counters["headings"] == 1


def test_inline_text_templates_and_empty_parentheses():
    r = parse_wikitext("'''Achilles''' ({{IPAc-en|ə|ˈ|k|ɪ|l|iː|z}}; {{lang-grc|Ἀχιλλεύς}}, ''Akhilleus'') "
                       "ran {{convert|5|km}} to [[Troy]] ({{IPA|x}}) {{lang|fr|vite}}.")
    check_offsets(r)
    assert r.text == "Achilles (Ἀχιλλεύς, Akhilleus) ran 5 km to Troy vite."
    assert anchors_of(r) == [("Troy", "Troy")]


def test_bold_aliases_of_the_lead():
    r = parse_wikitext("{{Short description|Planet}}\n[[File:M.jpg|thumb|'''Not''' this]]\n"
                       "'''Mercury''' (also '''Hermes''', '''''Stilbon''''') is the [[planet]].\n\n"
                       "Later '''bold''' text is not an alias.")
    assert r.bold_aliases == ("Mercury", "Hermes", "Stilbon")
    assert parse_wikitext("No bold here. '''''").bold_aliases == ()


def test_unbalanced_markup_does_not_leak():
    r = parse_wikitext("Start {{unclosed template and [[unclosed link and {| table\n|}\n''' end <ref>x")
    assert LEAK_RE.search(r.text) is None
    assert r.counters["stray_markup"] >= 3
    assert "Start" in r.text and "end" in r.text


def test_whitespace_collapses_and_offsets_stay_exact():
    r = parse_wikitext("  a  [[b]]\t c\n\n\n\n[[ d |  e  ]]   f\n g  ")
    assert r.text == "a b c\n\ne f\ng"
    assert anchors_of(r) == [("b", "B"), ("e", "D")]
    check_offsets(r)


def test_link_trails_per_language():
    assert anchors_of(parse_wikitext("[[Haus]]änder", "de")) == [("Hausänder", "Haus")]
    assert anchors_of(parse_wikitext("[[Москва]]ой", "ru")) == [("Москваой", "Москва")]
    assert anchors_of(parse_wikitext("[[東京]]都", "zh")) == [("東京", "東京")]
    assert anchors_of(parse_wikitext("[[東京]]abc", "ja")) == [("東京", "東京")]
    assert anchors_of(parse_wikitext("[[dog]]é", "en")) == [("dog", "Dog")]


def test_nested_links_only_outer_is_anchor():
    r = parse_wikitext("[[Outer|see [[Inner]] here]]")
    assert anchors_of(r) == [("see Inner here", "Outer")]
    assert r.counters["link_nested"] == 1


# --- titles ----------------------------------------------------------------------------------------------------

def test_normalize_title():
    assert normalize_title("dog_house#History") == "Dog house"
    assert normalize_title(":  the   Beatles ") == "The Beatles"
    assert normalize_title("caf%C3%A9 &amp; bar") == "Café & bar"
    assert normalize_title("istanbul", "tr") == "İstanbul"
    assert normalize_title("ßeta") == "ßeta"  # no two-character upper case
    assert normalize_title("iPod", first_letter=False) == "iPod"
    assert ucfirst("élan") == "Élan"


def test_classify_link_with_siteinfo_and_defaults(data_dir):
    vi = NamespaceTable.from_siteinfo(read_siteinfo(str(data_dir / "wiki" / "viwiki-20230501-first-pages.xml.bz2")))
    assert vi.lang == "vi"
    assert classify_link("Thể loại:Việt Nam", vi).kind == "category"
    assert classify_link("thể_loại : Việt Nam", vi).kind == "category"
    assert classify_link("Tập tin:X.jpg", vi).kind == "file"
    assert classify_link("Category:X", vi).kind == "category"  # canonical names work everywhere
    assert classify_link("hà Nội", vi).title == "Hà Nội"
    de = NamespaceTable.default("de")
    assert classify_link("Kategorie:Vogel", de).kind == "category"
    assert classify_link("Datei:Vogel.jpg", de).kind == "file"
    assert classify_link("bild:Vogel.jpg", de).kind == "file"
    en = NamespaceTable.default("en")
    target = classify_link("category:birds", en)
    assert (target.kind, target.title, target.namespace) == ("category", "Category:Birds", 14)
    assert classify_link("Image:X.png", en).kind == "file"
    assert classify_link("WP:NPOV", en).kind == "namespace"
    assert classify_link("de:Vogel", en).kind == "language"
    assert classify_link(":de:Vogel", en).kind == "interwiki"
    assert classify_link("wiktionary:bird", en).kind == "interwiki"
    assert classify_link("Star Wars: Episode I", en).kind == "article"
    assert classify_link("Star Wars: Episode I", en).title == "Star Wars: Episode I"
    assert classify_link("a|b", en).kind == "invalid"
    assert classify_link("#Top", en).kind == "fragment"


def test_pipe_trick_and_template_names():
    assert pipe_trick("Mercury (planet)") == "Mercury"
    assert pipe_trick("Seattle, Washington") == "Seattle"
    assert pipe_trick("Help:Contents") == "Contents"
    assert template_name(" template:disambig <!-- x -->") == "Disambig"
    assert template_name("subst:Dab") == "Dab"
    assert template_name("Bản mẫu:Trang định hướng", NamespaceTable.from_siteinfo({10: "Bản mẫu"}, "vi")) \
        == "Trang định hướng"


def test_disambiguation_table_covers_all_languages():
    assert set(DISAMBIGUATION) == set(LANGUAGES) and len(LANGUAGES) == 24
    for lang, (templates, qualifiers) in DISAMBIGUATION.items():
        assert templates and qualifiers, lang
        assert is_disambiguation("Something", [templates[0]], lang), lang
        assert is_disambiguation(f"Something ({qualifiers[0]})", [], lang), lang
        assert not is_disambiguation("Something", ["Infobox"], lang), lang
    assert is_disambiguation("Aa River", ["Geodis"], "en")
    assert is_disambiguation("Smith", ["Surname"], "en")
    assert is_disambiguation("Foo", ["disambiguation"], "de")  # English names are accepted everywhere
    assert is_disambiguation("Foo", [], "fr", magic_words=["__DISAMBIG__"])
    assert is_disambiguation("Paris (Homonymie)", [], "fr")
    assert not is_disambiguation("Tennis", ["Tennis"], "en")


# --- the guard -------------------------------------------------------------------------------------------------

def test_size_bound():
    assert parse_wikitext("x" * 101, max_chars=100).skipped == "too_large"
    r = WikiTextParser("en", max_chars=100).parse("y" * 101)
    assert r.skipped == "too_large" and r.counters == {"skipped_too_large": 1} and r.text == ""


def test_pathological_page_is_killed_and_the_parser_recovers():
    # mwparserfromhell needs about a minute for this 64 KB page (quadratic backtracking): the child process is
    # killed after the timeout, the page is reported as skipped, and the next page gets a fresh child.
    with WikiTextParser("en", timeout_s=1.0) as parser:
        good = parser.parse("'''Hi''' [[there]]s")
        assert good.ok and anchors_of(good) == [("theres", "There")] and good.bold_aliases == ("Hi",)
        bad = parser.parse("{{a|" * 16000)
        assert bad.skipped == "timeout" and bad.counters == {"skipped_timeout": 1}
        again = parser.parse("[[ok]]")
        assert again.ok and anchors_of(again) == [("ok", "Ok")]
        clone = pickle.loads(pickle.dumps(parser))  # DoFns are pickled: the child process is not
        assert anchors_of(clone.parse("[[x|y]]")) == [("y", "X")]
        clone.close()


# --- real dumps ------------------------------------------------------------------------------------------------

def _articles(path):
    return [p for p in read_pages(str(path)) if p.namespace == 0 and not p.is_redirect]


@pytest.fixture(scope="module")
def english(data_dir):
    path = data_dir / "wiki" / "enwiki-pages-articles-shortened.xml.bz2"
    table = NamespaceTable.from_siteinfo(read_siteinfo(str(path)), "en")
    return [(p, parse_wikitext(p.text, "en", table)) for p in _articles(path)]


def test_english_dump(english):
    assert len(english) == 106  # 205 main-namespace pages; 99 of the dump's 100 redirects are among them
    totals = Counter()
    trails = 0
    for page, r in english:
        assert r.ok, page.title
        check_offsets(r)
        leak = LEAK_RE.search(r.text)
        assert leak is None, (page.title, r.text[max(0, leak.start() - 60):leak.end() + 60])
        totals.update(r.counters)
        for a in r.anchors:
            shown = r.text[a.start:a.end]
            if shown != a.target and shown[:1].upper() + shown[1:-1] == a.target and shown[-1].islower():
                trails += 1
    assert totals["links"] > 20_000 and totals["anchors"] > 0.9 * totals["links"]
    assert totals["link_category"] > 500 and totals["link_file"] > 500 and totals["refs"] > 5000
    assert trails > 20  # e.g. [[Greek]]s -> "Greeks"
    achilles = dict((p.title, r) for p, r in english)["Achilles"]
    assert achilles.bold_aliases == ("Achilles",)
    assert achilles.text.startswith("In Greek mythology, Achilles")
    assert ("Trojan War", "Trojan War") in anchors_of(achilles)
    with_alias = sum(bool(r.bold_aliases) for _, r in english)
    assert with_alias >= 95
    dabs = {p.title for p, r in english if is_disambiguation(p.title, r.templates, "en", r.magic_words)}
    assert {"Austin (disambiguation)", "Ada", "Alien", "Aa River"} <= dabs and len(dabs) < 15


def test_table_markup_dump(data_dir):
    path = data_dir / "wiki" / "enwiki-table-markup.xml.bz2"
    table = NamespaceTable.from_siteinfo(read_siteinfo(str(path)), "en")  # no siteinfo: built-in names
    for page in _articles(path):
        r = parse_wikitext(page.text, "en", table)
        check_offsets(r)
        assert r.counters["tables"] >= 1
        assert LEAK_RE.search(r.text) is None, page.title
        assert "wikitable" not in r.text and "colspan" not in r.text and "rowspan" not in r.text


def test_bulgarian_dump(data_dir):
    path = data_dir / "wiki" / "bgwiki-pages-articles-shortened-utf16.xml.bz2"
    table = NamespaceTable.from_siteinfo(read_siteinfo(str(path)))
    (page,) = _articles(path)
    r = parse_wikitext(page.text, "bg", table)
    check_offsets(r)
    assert LEAK_RE.search(r.text) is None
    assert len(r.anchors) > 50 and r.counters["link_category"] >= 1
    assert r.bold_aliases == ("Григорианският календар", "Грегориански календар")


def test_vietnamese_dump(data_dir):
    path = data_dir / "wiki" / "viwiki-20230501-first-pages.xml.bz2"
    table = NamespaceTable.from_siteinfo(read_siteinfo(str(path)), "vi")
    articles = _articles(path)[:120]  # the first 120 of 206 articles keep the suite fast
    dabs = 0
    totals = Counter()
    for page in articles:
        r = parse_wikitext(page.text, "vi", table)
        assert r.ok
        check_offsets(r)
        assert LEAK_RE.search(r.text) is None, page.title
        totals.update(r.counters)
        dabs += is_disambiguation(page.title, r.templates, "vi", r.magic_words)
        assert not any(t.startswith(("Thể loại:", "Tập tin:", "Category:", "File:")) for t in
                       (a.target for a in r.anchors))
    assert totals["anchors"] > 10_000 and totals["link_category"] > 300 and totals["link_file"] > 100
    assert dabs >= 2  # {{Trang định hướng}} pages


def test_sample(tmp_path):
    pages = list(read_pages(str(SAMPLE)))
    table = NamespaceTable.from_siteinfo(read_siteinfo(str(SAMPLE)))
    redirects = {p.title: p.redirect_target for p in pages if p.is_redirect}

    def resolve(title):
        for _ in range(5):
            title = redirects.get(title, title)
        return title

    mentions = Counter()
    results = {}
    for page in pages:
        if page.is_redirect:
            continue
        r = parse_wikitext(page.text, "en", table)
        results[page.title] = r
        check_offsets(r)
        assert LEAK_RE.search(r.text) is None, page.title
        words = len(r.text.split())
        assert words <= 200, page.title
        mentions.update(resolve(a.target) for a in r.anchors)
    assert len(results) == 18
    assert sum(len(r.text.split()) <= 20 for r in results.values()) == 1  # the stub
    assert [t for t, r in results.items() if is_disambiguation(t, r.templates, "en", r.magic_words)] \
        == ["Mirel (disambiguation)"]
    assert sum(n >= 5 for n in mentions.values()) >= 5
    assert mentions["Tarrow River"] >= 10  # reached directly, via a redirect and via a redirect chain
    river = results["Tarrow River"]
    assert river.bold_aliases == ("Tarrow River", "Tarrow")
    assert ("Hollin apples", "Hollin apple") in anchors_of(river)  # link trail
    assert "Survey of the Vale" not in river.text  # the ref
    brennick = results["Brennick"]
    assert ("River Tarrow", "River Tarrow") in anchors_of(brennick)
    assert "market square" not in brennick.text  # the file caption
    total = Counter()
    for r in results.values():
        total.update(r.counters)
    assert total["link_category"] >= 15 and total["link_file"] == 2 and total["tables"] == 1
    assert total["refs"] >= 3 and total["templates"] >= 4


# --- our tree builder against mwparserfromhell's ----------------------------------------------------------------

def _signature(r):
    return (r.text, [(a.start, a.end, a.target) for a in r.anchors], r.bold_aliases, r.templates, r.magic_words,
            r.counters, r.skipped)


def test_tree_builder_is_active_with_the_installed_mwparserfromhell():
    from pipelines.wiki.wikitext import tree_builder_in_use
    assert tree_builder_in_use() == "tokens"  # otherwise every page silently takes the ~3x slower stock path


def test_unknown_tree_builder_is_refused_by_name():
    with pytest.raises(ValueError, match="unknown tree builder 'nope'; one of tokens, stock"):
        parse_wikitext("[[a]]", tree_builder="nope")


EDGE_CASES = [
    "[[a{{b|c=d|e}}<!--x-->|]] [[X|y|z]] [[{{tl|q}}|shown]] [[Foo<span>bar</span>]]s",
    "{{lang|fr|''le'' [[mot]]<ref>r</ref>}} {{lang-de|a=b|c|d}} {{convert|1|2|3=x=y}} {{nowrap|}} {{lang}}",
    "<span style='a' b = \"c\" d=e f>t</span> <div class=x/> <b>bold <i>it</i></b> <ref name=a/> <ref>x",
    "<table><tr><td>[[cell]]</td></tr></table> {| class=t\n|[[c]]\n|} <gallery>\nF.jpg|[[cap]]\n</gallery>",
    "== [[Head]] {{t}} ==\ntext {{{1|[[def]]}}} <!-- [[c]] --> &nbsp;&#65;&#x42;&bogus; [http://x.org [[l]] y]",
    "''' ''unclosed [[link {{tpl [[x|y]] <b> </i> {{{a| }}} <nowiki>[[n]]</nowiki><pre>[[p]]</pre>",
    "* [[a]]\n# {{b|[[c]]}}\n; d : [[e|f]]g\n---- __NOTOC__ __init__ (; {{x}}, ) ( ) [[File:a.png|thumb|[[z]]]]",
    "{{#if:x|[[y]]|z}} {{Template:Lang|en|[[w]]}} {{subst:lang|x|y}} {{ lang | fr | z }}",
]


@pytest.mark.parametrize("wikitext", EDGE_CASES)
def test_tree_builder_matches_the_stock_builder_on_edge_cases(wikitext):
    assert _signature(parse_wikitext(wikitext)) == _signature(parse_wikitext(wikitext, tree_builder="stock"))


def test_tree_builder_matches_the_stock_builder_on_the_dumps(data_dir, english):
    # Every page of the small dumps and the sample, and a slice of the English one (the others are checked by
    # bench/wikitext_parse.py: all 1206 pages).
    for name, lang, limit in (("enwiki-table-markup.xml.bz2", "en", None),
                              ("bgwiki-pages-articles-shortened-utf16.xml.bz2", "bg", None),
                              ("viwiki-20230501-first-pages.xml.bz2", "vi", 20)):
        path = data_dir / "wiki" / name
        info = read_siteinfo(str(path))
        table = NamespaceTable.from_siteinfo(info, lang) if info else NamespaceTable.default(lang)
        for page in _articles(path)[:limit]:
            assert _signature(parse_wikitext(page.text, lang, table)) == \
                _signature(parse_wikitext(page.text, lang, table, tree_builder="stock")), (name, page.title)
    table = NamespaceTable.from_siteinfo(read_siteinfo(str(SAMPLE)))
    for page in read_pages(str(SAMPLE)):
        assert _signature(parse_wikitext(page.text, "en", table)) == \
            _signature(parse_wikitext(page.text, "en", table, tree_builder="stock")), page.title
    en_table = NamespaceTable.from_siteinfo(read_siteinfo(str(data_dir / "wiki" /
                                                              "enwiki-pages-articles-shortened.xml.bz2")), "en")
    for page, r in english[:15]:
        assert _signature(r) == _signature(parse_wikitext(page.text, "en", en_table, tree_builder="stock")), \
            page.title


def test_collector_state_is_restored():
    import gc
    assert gc.isenabled()
    parse_wikitext("[[a]] {{b}}")
    parse_wikitext("{{a|" * 10)  # malformed: still restored
    assert gc.isenabled()
    gc.disable()
    try:
        parse_wikitext("[[a]]")
        assert not gc.isenabled()  # a caller's own choice is kept
    finally:
        gc.enable()
