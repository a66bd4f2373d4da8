"""Audit an MRC dataset for queries that still name their answer: ``python -m pipelines.wiki_mrc.leaks DIR...``.

A row *leaks* when a word of its query (mask tokens removed) carries the entity's title, or the title without
its qualifier, as the language's row of :mod:`title_masking` defines it, after normalisation (NFC, case folding,
the language's fold). This is a second implementation of that definition, on purpose: it splits the query into
words and compares them to the name's words one by one, where the masker compiles regexes and matches them
against the article text, so a test that holds the one against the other checks something.

Reported per dataset: rows, rows that leak under the language's rule, rows that would leak without the length
guard (short names matched whole: see :mod:`title_masking`), and rows whose normalised query merely contains the
normalised name as a substring (an upper bound that counts *Art* in *start*).
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from pipelines.wiki_mrc.examples import MASK_TOKEN, unqualified
from pipelines.wiki_mrc.title_masking import (EDGE_PUNCTUATION, MIN_CHARS_FOR_ENDINGS, RULE_NAMES,
                                              LanguageMasking, is_word_char, masking_for, normalise, with_rule)


def words_and_gaps(text: str, spec: LanguageMasking, mask_token: str = MASK_TOKEN) -> List[Tuple[str, str]]:
    """The normalised words of ``text`` (runs of word characters), each with what stands between it and the
    word before (``""`` for the first), the mask tokens left out."""
    norm = normalise(text.replace(mask_token, " "), spec.fold)
    out: List[Tuple[str, str]] = []
    current: List[str] = []
    gap: List[str] = []
    for char in norm:
        if is_word_char(char):
            current.append(char)
            continue
        if current:
            out.append(("".join(current), "".join(gap) if out else ""))
            current, gap = [], []
        gap.append(char)
    if current:
        out.append(("".join(current), "".join(gap) if out else ""))
    return out


_SPACE_OR_HYPHEN = frozenset(" \t\n\r\f\v-\u2010\u2011\u2013\u00a0")


def _same_gap(in_query: str, in_name: str) -> bool:
    """Words of a name stand apart in the query as they do in the name: whitespace or hyphens for whitespace or
    hyphens ("stress tensor" / "stress-tensor"), the same characters otherwise ("AC/DC")."""
    if in_query and in_name and set(in_query) <= _SPACE_OR_HYPHEN and set(in_name) <= _SPACE_OR_HYPHEN:
        return True
    return in_query == in_name


def _is_form(word: str, name: str, spec: LanguageMasking) -> bool:
    """``word`` is ``name`` itself or ``name`` with one of the language's endings (and, for a ``word`` rule
    with a stem, with its final letter replaced)."""
    if word == name:
        return True
    if len(name) >= MIN_CHARS_FOR_ENDINGS and any(word == name + ending for ending in spec.endings):
        return True
    if spec.rule == "word" and spec.stem and len(name) > spec.min_affix_chars and name[-1] in spec.stem:
        base = name[:-1]
        rest = word[len(base):]
        return (word.startswith(base) and rest[:1] in tuple(spec.stem)
                and (rest[1:] == "" or rest[1:] in spec.endings))
    return False


def _starts_with_name(word: str, name: str, spec: LanguageMasking) -> bool:
    """``prefix``: ``word`` begins with ``name``, or with ``name`` short of up to two final letters that
    inflection replaces (and then goes on)."""
    if word.startswith(name):
        return True
    for cut in (1, 2):
        stem = name[:-cut]
        if (len(stem) >= spec.min_affix_chars and all(c in spec.stem for c in name[-cut:])
                and word.startswith(stem) and len(word) > len(stem)):
            return True
    return False


def carries(word: str, name: str, spec: LanguageMasking, first: bool, guard: bool = True) -> bool:
    """Does the normalised query word carry the normalised name word under ``spec``'s ``word``, ``prefix`` or
    ``clitic`` rule (``guard``: with the length guard)? (:func:`leaks` handles ``substring`` on the whole name.)"""
    if spec.rule == "word":
        return _is_form(word, name, spec)
    # The length guard: a short name word must be the whole word (with an ending), not only its start.
    begins = _is_form if guard and len(name) < spec.min_affix_chars else _starts_with_name
    starts = begins(word, name, spec)
    if starts or spec.rule != "clitic" or not first or len(name) < 3:
        return starts
    # Strip up to three proclitics in front; the article's alef drops after ل (ل + القاهرة = للقاهرة).
    heads = [word]
    for _ in range(3):
        heads = [h[len(p):] for h in heads for p in spec.proclitics if h.startswith(p) and len(h) > len(p)]
        for head in heads:
            if begins(head, name, spec):
                return True
            if name.startswith("ال") and head.startswith("ل") and carries("ا" + head, name, spec, False, guard):
                return True
    return False


def _squeezed(text: str, spec: LanguageMasking) -> str:
    """Normalised, mask tokens and surrounding punctuation left out, whitespace runs as single spaces."""
    return " ".join(normalise(text.replace(MASK_TOKEN, " "), spec.fold).strip().strip(EDGE_PUNCTUATION).split())


def leaks(query: str, names: Iterable[str], spec: LanguageMasking, guard: bool = True) -> List[str]:
    """The names that ``query`` still carries."""
    words = words_and_gaps(query, spec)
    found = []
    for name in names:
        name_words = words_and_gaps(normalise(name, spec.fold).strip().strip(EDGE_PUNCTUATION), spec)
        k = len(name_words)
        if not k:
            continue
        if spec.rule == "substring":
            joined = _squeezed(name, spec)
            long_enough = len(joined) >= spec.min_affix_chars or not guard
            if (joined in _squeezed(query, spec)) if long_enough else joined in {word for word, _ in words}:
                found.append(name)
            continue
        for i in range(len(words) - k + 1):
            if all(carries(words[i + j][0], name_words[j][0], spec, j == 0, guard)
                   and (j == 0 or _same_gap(words[i + j][1], name_words[j][1])) for j in range(k)):
                found.append(name)
                break
    return found


def row_names(row: dict) -> Tuple[str, ...]:
    return tuple(dict.fromkeys((row["entity"], unqualified(row["entity"]))))


@dataclass
class LeakReport:
    rows: int = 0
    leaking: int = 0  # under the language's rule, with the guard
    without_guard: int = 0  # would leak if short names were matched with affixes too
    substring: int = 0  # the normalised name appears anywhere in the normalised query
    examples: List[Tuple[str, str, str]] = field(default_factory=list)  # (id, entity, query) of leaking rows

    def add(self, row: dict, spec: LanguageMasking, keep: int = 5) -> None:
        names = row_names(row)
        self.rows += 1
        found = leaks(row["query"], names, spec)
        if found:
            self.leaking += 1
            if len(self.examples) < keep:
                self.examples.append((row["id"], row["entity"], row["query"]))
        if found or leaks(row["query"], names, spec, guard=False):
            self.without_guard += 1
        text = _squeezed(row["query"], spec)
        if any(_squeezed(n, spec) in text for n in names):
            self.substring += 1


def audit(rows: Iterable[dict], lang: str, tokenizer_lang: Optional[str] = None,
          rule: Optional[str] = None) -> LeakReport:
    spec = masking_for(lang, tokenizer_lang)
    if rule:
        spec = with_rule(spec, rule)
    report = LeakReport()
    for row in rows:
        report.add(row, spec)
    return report


def audit_dump(path: str, lang: str, tokenizer_lang: Optional[str] = None, *,
               query_length: int = 50) -> LeakReport:
    """The queries of every article of a dump that the pipeline would keep (main namespace, no redirect, parsed,
    no disambiguation, more than 20 words), built by :func:`examples.build_query`, audited as rows would be.
    Every kept article, not only the entities above the mention floor: a small excerpt has few of those."""
    import inspect

    from pipelines.tokenize import words
    from pipelines.wiki.dump import read_pages, read_siteinfo
    from pipelines.wiki.parser_process import WikiTextParser
    from pipelines.wiki.titles import NamespaceTable, is_disambiguation, normalize_title
    from pipelines.wiki_mrc import examples as ex

    tokenizer_lang = tokenizer_lang or lang
    spec = masking_for(lang, tokenizer_lang)
    tokenize = lambda text: words(text, tokenizer_lang)  # noqa: E731
    parser = WikiTextParser(lang, NamespaceTable.from_siteinfo(read_siteinfo(path), lang))
    # The current build_query takes the masking data; the one before the per-language table did not.
    extra = {"masking": spec} if "masking" in inspect.signature(ex.build_query).parameters else {}
    report = LeakReport()
    for page in read_pages(path):
        if page.namespace != 0 or page.is_redirect:
            continue
        parsed = parser.parse(page.text)
        title = normalize_title(page.title, lang)
        if not parsed.ok or is_disambiguation(title, parsed.templates, lang, parsed.magic_words):
            continue
        if not ex.has_more_words_than(parsed.text, ex.MIN_ARTICLE_WORDS - 1, tokenize):
            continue
        query = ex.build_query(parsed.text, ex.entity_names(title, parsed.bold_aliases), lang, tokenize,
                               query_words=query_length, **extra)
        report.add({"id": title, "entity": title, "query": query}, spec)
    parser.close()
    return report


def _percent(part: int, whole: int) -> str:
    return f"{part} ({100 * part / whole:.1f}%)" if whole else "0"


def _table_row(label: str, lang: str, rule: str, report: LeakReport) -> str:
    return (f"| {label} | {lang} | {rule} | {report.rows} | {_percent(report.leaking, report.rows)} | "
            f"{_percent(report.without_guard, report.rows)} | {_percent(report.substring, report.rows)} |")


def main(argv: Optional[Sequence[str]] = None) -> int:
    from schemas import open_dataset

    parser = argparse.ArgumentParser(prog="python -m pipelines.wiki_mrc.leaks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("datasets", nargs="*", metavar="DIR", help="mrc dataset directories")
    parser.add_argument("--dump", action="append", default=[], metavar="LANG[:TOKENIZER_LANG]=PATH",
                        help="also audit the queries of every kept article of a dump (e.g. bg:ru=bgwiki.xml.bz2)")
    parser.add_argument("--rule", default=None, choices=RULE_NAMES,
                        help="audit under this masking rule instead of the language's")
    parser.add_argument("--examples", action="store_true", help="print a few leaking rows of each dataset")
    args = parser.parse_args(argv)
    print("| dataset | lang | rule | rows | leaking rows | without the guard | name as a substring |")
    print("|---|---|---|---|---|---|---|")
    reports: Dict[str, LeakReport] = {}
    for path in args.datasets:
        dataset = open_dataset(path, kind="mrc")
        config = dataset.manifest.config
        rule = args.rule or masking_for(config["lang"], config.get("tokenizer_lang")).rule
        report = reports[path] = audit(dataset.iter_rows(), config["lang"], config.get("tokenizer_lang"), rule)
        print(_table_row(path, config["lang"], rule, report))
    for spec in args.dump:
        langs, path = spec.split("=", 1)
        lang, _, tokenizer_lang = langs.partition(":")
        report = reports[path] = audit_dump(path, lang, tokenizer_lang or None)
        rule = masking_for(lang, tokenizer_lang or None).rule
        print(_table_row(f"{path} (every kept article)", lang, rule, report))
    if args.examples:
        for path, report in reports.items():
            for example in report.examples:
                print(path, *example, sep="\t")
    return 0


if __name__ == "__main__":
    sys.exit(main())
