"""An audit of MRC rows that shares nothing with the masker: ``python -m pipelines.wiki_mrc.audit DIR...``.

:mod:`leaks` checks the masker against its own definition (the language's row of :mod:`title_masking`), so a
case the table does not know (an ordinal ending, a zero-width joiner inside a word, a name in another script)
passes both. This audit uses none of their code or rules (no import of either) and is deliberately generous: it
prints what it finds for a person to judge, and the false alarms it raises are listed in docs/wiki_mrc.md.

Text is compared *folded*: format characters (Unicode Cf) removed, NFKD, case-folded, every mark with a non-zero
combining class (accents, Arabic short vowels, virama, nukta) removed, NFKC. Words are runs of letters, digits
and marks.

Checks, per row (a row may raise several):

``name``
    The query carries the entity's name: a run of consecutive query words, one per title word (the title, or the
    title without its qualifier), where each query word *starts with* the title word, or with the title word
    short of its last one or two letters (at least 3 left); a title word of digits is matched by a query word
    that starts with those digits and goes on with no other digit (1 → 1η, 1st); a title word of one or two
    letters must be the whole query word. In Arabic the title word may also stand anywhere inside the query
    word (proclitics in front). Languages written without spaces (ja, zh, th): the folded title anywhere in the
    folded query.
``bracket_after_mask``
    A mask followed by a bracket group that is not itself only masks: the reading, transliteration or
    original-script name of the lead (兵庫県（ひょうごけん）).
``answer_in_word``
    In a language written with spaces, an answer that starts or ends inside a word (a letter or mark right
    before or after it: ``[ইউরোপ]ের``).
``markup``
    Wikitext left in the query or the context: a namespace-prefixed file name (``চিত্র:Pink Floyd (1989).jpg``),
    image options (``|thumb|``), table rows and attributes (``|align=left|``, ``style="…"``), template parameters
    (``| conflict = …``), unmatched brackets of links and templates, and navigation bars (``31 Δεκεμβρίου | [MASK]
    | 2 Ιανουαρίου``: short items separated by `` | `` twice in a row).
"""
from __future__ import annotations

import argparse
import re
import sys
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, List, Optional, Sequence, Tuple

MASK = "[MASK]"
CHECKS = ("name", "bracket_after_mask", "answer_in_word", "markup")
UNSPACED = ("ja", "zh", "th")
IN_WORD_NAMES = ("ar",)  # names may follow proclitics inside the word


def fold(text: str) -> str:
    """Format characters out, NFKD, case-folded, marks of a non-zero combining class out, NFKC."""
    text = "".join(c for c in text if unicodedata.category(c) != "Cf")
    text = unicodedata.normalize("NFKD", text).casefold()
    text = "".join(c for c in text if not unicodedata.combining(c))
    return unicodedata.normalize("NFKC", text)


def _is_word(char: str) -> bool:
    return unicodedata.category(char)[0] in "LNM"


def split_words(text: str) -> List[str]:
    """The runs of letters, digits and marks of ``text``."""
    out: List[str] = []
    current: List[str] = []
    for char in text:
        if _is_word(char):
            current.append(char)
        elif current:
            out.append("".join(current))
            current = []
    if current:
        out.append("".join(current))
    return out


def title_forms(title: str) -> List[str]:
    """The title and the title without a final bracketed or comma qualifier."""
    forms = [title]
    bare = re.sub(r"\s*[(（][^()（）]*[)）]\s*$", "", title).strip()
    if bare and bare != title:
        forms.append(bare)
    elif ", " in title:
        forms.append(title.split(", ")[0])
    return forms


def word_carries(query_word: str, title_word: str, lang: str) -> bool:
    """Does one folded query word start with one folded title word (see the module docstring)?"""
    if title_word.isdecimal():
        rest = query_word[len(title_word):]
        return query_word.startswith(title_word) and not rest[:1].isdecimal()
    if len(title_word) <= 2:
        return query_word == title_word
    if query_word.startswith(title_word):
        return True
    if lang in IN_WORD_NAMES and title_word in query_word:
        return True
    for cut in (1, 2):
        stem = title_word[:-cut]
        if len(stem) >= 3 and query_word.startswith(stem):
            return True
    return False


def name_hits(query: str, title: str, lang: str) -> List[str]:
    """The stretches of ``query`` (folded words) that carry ``title``."""
    base = lang.split("-")[0]
    folded_query = fold(query.replace(MASK, " "))
    hits = []
    for form in title_forms(title):
        folded = fold(form)
        if base in UNSPACED:
            squeezed = "".join(split_words(folded))
            if len(squeezed) >= 2 and squeezed in "".join(split_words(folded_query)):
                hits.append(squeezed)
            continue
        title_words = split_words(folded)
        words = split_words(folded_query)
        k = len(title_words)
        for i in range(len(words) - k + 1) if k else ():
            if all(word_carries(words[i + j], title_words[j], base) for j in range(k)):
                hits.append(" ".join(words[i:i + k]))
    return list(dict.fromkeys(hits))


_BRACKET_AFTER_MASK = re.compile(re.escape(MASK) + r"\s*[(（](?!(?:\s|" + re.escape(MASK) + r")*[)）])")

_MEDIA = r"(?:jpe?g|png|svg|gif|tiff?|webp|xcf|ogg|ogv|oga|webm|mp3|wav|flac|mid|pdf|djvu)"
MARKUP = {
    "file_name": re.compile(r"[^\s:|\[\]]{2,30}\s?:[^\n|\]:]{1,200}\." + _MEDIA + r"\b", re.I),
    "image_options": re.compile(r"\|\s*(?:thumb|thumbnail|frameless|frame|upright|mini|miniatur|\d+\s?px)\s*(?=\||\]|$)",
                                re.I | re.M),
    "table_attribute": re.compile(r"\b(?:align|valign|colspan|rowspan|bgcolor|style|class|width|cellpadding|"
                                  r"cellspacing|border|scope)\s*=\s*[\"'#\w]", re.I),
    "table_row": re.compile(r"(?m)^\s*(?:\|[-+}]?|!)|\|\||!!"),
    "template_parameter": re.compile(r"\|\s*[^\s|=\[\]{}][^|=\[\]{}\n]{0,40}?\s*=\s*\S"),
    "brackets": re.compile(r"\{\{|\}\}|\[\[|\]\]|\{\||\|\}"),
    "navigation_bar": re.compile(r"[^|\n]{1,40}\s\|\s[^|\n]{1,40}\s\|\s\S"),
}


def markup_hits(text: str) -> List[Tuple[str, str]]:
    """(kind, the matched text) of wikitext left in ``text``."""
    return [(kind, m.group(0)) for kind, pattern in MARKUP.items() for m in [pattern.search(text)] if m]


def answer_in_word(context: str, answers: Sequence[Tuple[int, int]]) -> List[str]:
    """The answers of ``context`` with a letter or mark right before their start or right after their end,
    shown with that letter in brackets' place (``[ইউরোপ]ের``)."""
    out = []
    for start, end in answers:
        if (start > 0 and _is_word(context[start - 1])) or (end < len(context) and _is_word(context[end])):
            out.append(context[max(0, start - 3):start] + "[" + context[start:end] + "]" + context[end:end + 3])
    return out


@dataclass
class AuditReport:
    rows: int = 0
    rows_hit: Counter = field(default_factory=Counter)  # check -> rows that raise it
    markup_kinds: Counter = field(default_factory=Counter)  # markup kind -> rows (query or context)
    hits: List[Tuple[str, str, str, str]] = field(default_factory=list)  # (check, row id, entity, what)

    def add(self, row: dict, lang: str) -> None:
        self.rows += 1
        found: List[Tuple[str, str]] = []
        for hit in name_hits(row["query"], row["entity"], lang):
            found.append(("name", hit))
        m = _BRACKET_AFTER_MASK.search(row["query"])
        if m:
            found.append(("bracket_after_mask", row["query"][m.start():m.start() + 40]))
        if lang.split("-")[0] not in UNSPACED:
            spans = [(a["start"], a["end"]) if isinstance(a, dict) else tuple(a) for a in row.get("answers") or ()]
            found.extend(("answer_in_word", shown) for shown in answer_in_word(row.get("context", ""), spans))
        kinds = set()
        for part in ("query", "context"):
            for kind, text in markup_hits(row.get(part) or ""):
                kinds.add(kind)
                found.append(("markup", f"{part} {kind}: {text[:80]}"))
        self.markup_kinds.update(kinds)
        for check in {check for check, _ in found}:
            self.rows_hit[check] += 1
        self.hits.extend((check, str(row.get("id", "")), row["entity"], what) for check, what in found)


def audit_rows(rows: Iterable[dict], lang: str) -> AuditReport:
    report = AuditReport()
    for row in rows:
        report.add(row, lang)
    return report


def table(reports: Sequence[Tuple[str, str, AuditReport]]) -> str:
    lines = ["| dataset | lang | rows | " + " | ".join(CHECKS) + " |", "|---|---|---|" + "---|" * len(CHECKS)]
    for label, lang, report in reports:
        cells = [str(report.rows_hit[c]) for c in CHECKS]
        lines.append(f"| {label} | {lang} | {report.rows} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    from schemas import open_dataset

    parser = argparse.ArgumentParser(prog="python -m pipelines.wiki_mrc.audit", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("datasets", nargs="+", metavar="DIR", help="mrc dataset directories")
    parser.add_argument("--show", type=int, default=20, metavar="N",
                        help="print up to N suspicious rows per dataset and check (default 20; 0: none)")
    args = parser.parse_args(argv)
    reports = []
    for path in args.datasets:
        dataset = open_dataset(path, kind="mrc")
        lang = dataset.manifest.config["lang"]
        reports.append((path, lang, audit_rows(dataset.iter_rows(), lang)))
    print(table(reports))
    for path, _, report in reports:
        shown: Counter = Counter()
        for check, row_id, entity, what in report.hits:
            if shown[check] < args.show:
                shown[check] += 1
                print(path, check, row_id, entity, what, sep="\t")
    return 0


if __name__ == "__main__":
    sys.exit(main())
