"""How a query word "carries" an entity's name, per language: the table the query mask follows (paper 001 §2.2:
the entity in the query is anonymised to the mask token).

Masking only whole words equal to the title is enough for English and not for most of the 24 languages: in a
suffixing language the name takes case endings (Bengali ইউরোপ → ইউরোপকে, Turkish Avrupa → Avrupa'da), in a
fusional one the ending replaces the nominative one (Russian Москва → Москвы), German adds a genitive -s
(Gandhi → Gandhis), Arabic attaches conjunctions, prepositions and the article at the *front* (توم → لتوم, تسلا →
لتسلا) and endings at the back (مصر → مصري), and Chinese, Japanese and Thai put no space between words at all.

Everything is compared *normalised*: format characters removed (zero-width (non-)joiners, soft hyphens,
direction marks: Bengali text writes ধর্\u200cমো for a form of ধর্ম, and the name must still match), Unicode NFKC
(full-width digits and letters, compatibility forms), then case-folded (``str.casefold``), plus, where the
language needs it, marks that vary between forms of one word folded away (Greek accents move: Αθήνα, Αθηνών; Arabic
short vowels and the tatweel are optional: بـــغورو is ب + غورو). A name is split into words at whitespace and
hyphens, with quotes and sentence punctuation around it left out; a multi-word name matches as the same sequence
of words (whitespace or hyphens between them), each word matched by the language's rule.

Rules (:data:`RULES`, one entry per kind, looked up by name; :data:`LANGUAGES` says which one each language
uses and why):

``word``
    the name as a whole word, optionally followed by one of the language's inflectional ``endings`` and nothing
    else (Spanish gurú → gurús, comité → comités; not *once* in *concentra*, nor *oeste* in *noroeste*).
``prefix``
    any word that starts with the name (or with its ``stem``: the name without a final letter that inflection
    replaces), i.e. the name followed by any suffix: case endings, the genitive, compounds.
``clitic``
    ``prefix``, and the name may also be preceded by the language's ``proclitics`` inside the word (Arabic: و ف
    ب ل ك and the article ال). A plain substring rule would be wrong here: ماري (Mary) is inside التمارين
    ("the exercises"), after ال + ت, and ت is no proclitic.
``substring``
    the name anywhere (languages written without spaces: a name may start or end inside a segmenter's word).

Two things hold whatever the rule:

- A name word of digits (a day, a year) matches those digits followed by any ending that is not another digit:
  ordinals are written with one in most languages (1st, 1er, 1., 1-й, 1η, 1º; Greek 1 Ιανουαρίου is "η 1η
  Ιανουαρίου" in its own article), and 1 must not match 10. Languages without spaces keep their substring rule
  (2008年 follows another character).
- Indic languages (``bare_stem``): a name's final vowel sign may be dropped and the stem stand on its own as a
  word (Bengali অ্যান্টার্কটিকা → অ্যান্টার্কটিক সার্কেল, Hindi अमेरिका → अमेरिकी), as long as 4 code points
  remain.

The guard against over-masking: a name word shorter than the language's ``min_affix_chars`` (normalised
characters) matches as a whole word only (with its ``endings``): a 2- or 3-letter word is a prefix of too many
unrelated words (German *Rom* → *Roman*, *Romantik*; Arabic مصر → مصرف, "bank"); docs/wiki_mrc.md has the
measurement on XQuAD (de, ar) behind the default of 4. The pipeline counts each guarded name word
(``masked_words.guarded``), and every masked word by how it carried the name: ``exact`` (the word is the name),
``prefix`` (the name plus an ending or suffix), ``substring`` (the name inside the word, after proclitics or
within an unspaced word).
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Callable, Dict, List, Mapping, NamedTuple, Optional, Sequence, Tuple

from schemas.errors import UsageError


EXACT, PREFIX, SUBSTRING = "exact", "prefix", "substring"
MASK_KINDS = (EXACT, PREFIX, SUBSTRING)  # weakest to strongest: a word overlapping two matches takes the later
GUARDED = "guarded"  # counter suffix: name words too short for affix matching
# Endings (-s, -es, -а ...) follow names of 3 letters or more (Roms, Рима): a 1- or 2-letter name with an ending
# is a common word (A → as, U → us).
MIN_CHARS_FOR_ENDINGS = 3


@dataclass(frozen=True)
class LanguageMasking:
    """One row of the table: the rule and the language's data it needs."""
    rule: str  # a key of RULES
    why: str
    endings: Tuple[str, ...] = ()  # ``word``: inflectional endings allowed after the name
    stem: str = ""  # ``prefix``/``clitic``: final letters inflection replaces (dropped when the name ends in one)
    proclitics: Tuple[str, ...] = ()  # ``clitic``: what may precede the name inside the word
    fold: str = ""  # a key of FOLDS: extra normalisation
    min_affix_chars: int = 4  # the guard: shorter name words match whole (measured, see docs/wiki_mrc.md)
    bare_stem: bool = False  # the stem (a final ``stem`` letter dropped) is a word by itself too (Indic scripts)


# ---------------------------------------------------------------------------------------------------------------
# Normalisation with a map back to the original text
# ---------------------------------------------------------------------------------------------------------------

def _fold_greek(chars: str) -> str:
    # Greek accents (tonos) and the diaeresis move or vanish between forms of one noun: NFD, drop the marks.
    return "".join(c for c in unicodedata.normalize("NFD", chars) if not unicodedata.combining(c))


_ARABIC_OPTIONAL = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640]")


def _fold_arabic(chars: str) -> str:
    # Short vowels, shadda, sukun and Quranic marks are usually not written; the tatweel (ـ) only stretches a
    # line. Hamza carriers on alef vary too (أ إ آ → ا), as spelling of one name varies (أورسل / اورسل).
    return _ARABIC_OPTIONAL.sub("", chars).translate(_ALEFS)


_ALEFS = str.maketrans({"\u0623": "\u0627", "\u0625": "\u0627", "\u0622": "\u0627", "\u0671": "\u0627"})


def _fold_turkish(chars: str) -> str:
    # casefold("İ") is "i" + U+0307 (combining dot above): the same letter as a lowercase "i".
    return chars.replace("\u0307", "")


FOLDS: Mapping[str, Callable[[str], str]] = MappingProxyType({
    "": lambda chars: chars,
    "greek": _fold_greek,
    "arabic": _fold_arabic,
    "turkish": _fold_turkish,
})


# Format characters (Unicode category Cf): invisible, and written inside words at will (ZWNJ/ZWJ in Indic and
# Persian text, soft hyphens, direction marks around names in Arabic and Hebrew). Removed before any comparison.
FORMAT_CHARS = "".join(chr(c) for c in range(0x110000) if unicodedata.category(chr(c)) == "Cf")
_FORMAT_RE = re.compile("[" + re.escape(FORMAT_CHARS) + "]")
_NO_FORMAT = str.maketrans(dict.fromkeys(map(ord, FORMAT_CHARS)))


class Normalised(NamedTuple):
    text: str
    starts: Sequence[int]  # for each character of ``text``: the [start, end) of the original it comes from
    ends: Sequence[int]


def normalise(text: str, fold: str = "") -> str:
    """Format characters removed, NFKC, case-folded, then the language's fold: what names and words are compared
    as."""
    return FOLDS[fold](unicodedata.normalize("NFKC", text.translate(_NO_FORMAT)).casefold())


def normalise_with_offsets(text: str, fold: str = "") -> Normalised:
    """:func:`normalise` of ``text``, with every output character mapped to the original characters it came
    from. The text is cut into clusters (a character and the combining marks after it), so that NFKC, which
    composes within a cluster, and case folding, which may lengthen a character (ß → ss), stay inside one; a
    format character is a cluster of its own that becomes nothing."""
    if not fold and unicodedata.is_normalized("NFKC", text) and not _FORMAT_RE.search(text):
        folded = text.casefold()
        if len(folded) == len(text):  # case folding never shortens a character: here each one stayed one
            return Normalised(folded, range(len(text)), range(1, len(text) + 1))
    folder = FOLDS[fold]
    out: List[str] = []
    starts: List[int] = []
    ends: List[int] = []
    i, n = 0, len(text)
    while i < n:
        j = i + 1
        while j < n and unicodedata.combining(text[j]):
            j += 1
        piece = folder(unicodedata.normalize("NFKC", text[i:j].translate(_NO_FORMAT)).casefold())
        out.append(piece)
        starts.extend([i] * len(piece))
        ends.extend([j] * len(piece))
        i = j
    return Normalised("".join(out), tuple(starts), tuple(ends))


_MARKS = frozenset(("Mn", "Mc", "Me"))


def is_word_char(char: str) -> bool:
    """Letters, digits, ``_``, and what ``\\w`` leaves out but is part of a word: combining marks (Devanagari,
    Bengali and Telugu vowel signs are marks: without them भारतीय would end after भारत) and the zero-width
    (non-)joiners used inside Indic words. Boundaries are tested in Python with this, not in the regex: a
    character class of every mark takes ~5 ms to compile, once per article."""
    return char.isalnum() or char == "_" or char in "\u200c\u200d" or unicodedata.category(char) in _MARKS


# ---------------------------------------------------------------------------------------------------------------
# Rules: how one normalised name word becomes a regex, and what must hold at its edges
# ---------------------------------------------------------------------------------------------------------------

class WordPattern(NamedTuple):
    regex: str  # matched without word boundaries: those are tested on the text around the match
    head: bool  # the match must start where a word starts (before any proclitic)
    tail: str  # "end": must end where a word ends; "extend": runs on to the end of the word; "": may end anywhere;
    # "number": runs on to the end of the word over anything but digits (an ordinal ending: 1η, 1st, 1er)
    at_least_one_more: bool  # "extend" must add a character (a final letter was dropped: Москв + ы)
    guarded: bool  # the word was too short for the rule's affixes and matches whole


def _alternatives(options: Sequence[str]) -> str:
    return "|".join(re.escape(o) for o in sorted(options, key=lambda o: (-len(o), o)))


def _whole(word: str, spec: LanguageMasking, group: str, guarded: bool = False) -> WordPattern:
    """The word as itself, ended where a word ends: optionally followed by one of the language's ``endings``,
    and, where the rule is ``word`` and the language has a ``stem``, with its final letter replaced by another
    one of those (Italian cloroplasto → cloroplasti)."""
    core = re.escape(word)
    post = ""
    if spec.rule == "word" and spec.stem and word[-1] in spec.stem and len(word) > spec.min_affix_chars:
        core = re.escape(word[:-1])
        post = "[" + re.escape(spec.stem) + "]"
    if spec.endings and len(word) >= MIN_CHARS_FOR_ENDINGS:
        post += "(?:" + _alternatives(spec.endings) + ")?"
    regex = core + (rf"(?P<{group}_post>{post})" if post else "")
    return WordPattern(regex, is_word_char(word[0]), "end" if is_word_char(word[-1]) else "", False, guarded)


def _word_rule(word: str, spec: LanguageMasking, group: str, first: bool, name: str) -> WordPattern:
    return _whole(word, spec, group)


# A bare stem is a word of its own, so it needs more letters left than a stem that must be followed by an ending.
MIN_BARE_STEM_CHARS = 4


def _stemmed(word: str, spec: LanguageMasking) -> Tuple[str, bool]:
    """(what the word's forms start with, whether final letters that inflection replaces were dropped): up to
    two of the language's ``stem`` letters (Москва → Москв, Россия → Росс, Советский → Советск), as long as
    ``min_affix_chars`` letters remain (:data:`MIN_BARE_STEM_CHARS` where the stem may stand alone)."""
    keep = max(spec.min_affix_chars, MIN_BARE_STEM_CHARS) if spec.bare_stem else spec.min_affix_chars
    stem = word
    while spec.stem and len(word) - len(stem) < 2 and stem[-1] in spec.stem and len(stem) - 1 >= keep:
        stem = stem[:-1]
    return stem, stem != word


def _prefix_rule(word: str, spec: LanguageMasking, group: str, first: bool, name: str) -> WordPattern:
    if len(word) < spec.min_affix_chars or not is_word_char(word[-1]):
        return _whole(word, spec, group, guarded=len(word) < spec.min_affix_chars)
    stem, dropped = _stemmed(word, spec)
    return WordPattern(re.escape(stem), is_word_char(word[0]), "extend", dropped and not spec.bare_stem, False)


def _clitic_rule(word: str, spec: LanguageMasking, group: str, first: bool, name: str) -> WordPattern:
    body = _prefix_rule(word, spec, group, first, name)
    if not first or not spec.proclitics or len(word) < 3 or not is_word_char(word[0]):
        return body
    # Proclitics stack (و + ب + ال: وبال...), at most three. The article's alef drops after the preposition ل:
    # ل + القاهرة is written للقاهرة.
    pre = _alternatives(spec.proclitics)
    regex = rf"(?P<{group}_pre>(?:{pre}){{1,3}})?{body.regex}"
    if body.regex.startswith(_ARTICLE) and len(word) > len(_ARTICLE) + 2:
        regex = rf"(?:{regex}|(?P<{group}_pre2>(?:{pre}){{0,2}}لل){body.regex[len(_ARTICLE):]})"
    return body._replace(regex=regex)


_ARTICLE = "ال"


def _substring_rule(word: str, spec: LanguageMasking, group: str, first: bool, name: str) -> WordPattern:
    # The guard looks at the whole name here: a name of one character is too short to stand for the name inside
    # a longer segment, each character of a longer name is not (24 次 is a name, 次 alone is not).
    if len(name) < spec.min_affix_chars:
        return _whole(word, spec, group, guarded=True)
    return WordPattern(re.escape(word), False, "", False, False)


def _number(word: str) -> WordPattern:
    """A name word of digits: the digits and whatever ending follows them in the same word, but no more digits."""
    return WordPattern(re.escape(word), True, "number", False, False)


def is_number(word: str) -> bool:
    return word.isdecimal()


RULES: Mapping[str, Callable[[str, LanguageMasking, str, bool, str], WordPattern]] = MappingProxyType({
    "word": _word_rule,
    "prefix": _prefix_rule,
    "clitic": _clitic_rule,
    "substring": _substring_rule,
})

# ---------------------------------------------------------------------------------------------------------------
# The table
# ---------------------------------------------------------------------------------------------------------------

# Indic final letters that inflection and derivation replace: the dependent vowel signs, anusvara/candrabindu/
# visarga and the virama, taken from the script's block by category (combining marks), not listed by hand.
def _signs(first: int, last: int) -> str:
    return "".join(chr(c) for c in range(first, last + 1)
                   if unicodedata.category(chr(c)) in ("Mn", "Mc") and unicodedata.name(chr(c), "").find("NUKTA") < 0)


_BENGALI_SIGNS = _signs(0x0981, 0x09D7)
_DEVANAGARI_SIGNS = _signs(0x0900, 0x094F)
_TELUGU_SIGNS = _signs(0x0C00, 0x0C56)

_RUSSIAN_STEM = "аяоеьйыи"  # nominative endings that the other cases replace (Москва → Москвы, Россия → России)

_TABLE: Dict[str, LanguageMasking] = {
    "ar": LanguageMasking("clitic", "conjunctions و ف, prepositions ب ل ك and the article ال attach in front "
                          "(لتوم, وكراكوف, الغورو), pronoun and nisba endings behind (مصري, اليابانية)",
                          proclitics=("و", "ف", "ب", "ل", "ك", "س", "ال"), fold="arabic"),
    "bn": LanguageMasking("prefix", "case markers attach: ইউরোপকে (accusative), ইউরোপের (genitive); a final "
                          "vowel sign drops before a suffix or in a compound (অ্যান্টার্কটিকা → অ্যান্টার্কটিক সার্কেল)",
                          stem=_BENGALI_SIGNS, min_affix_chars=3, bare_stem=True),
    "de": LanguageMasking("prefix", "genitive -s/-es (Gandhis, Großbritanniens), weak -n/-en, compounds "
                          "(Hadrianswall → Hadrianswalls, Chloroplast → Chloroplasten)",
                          endings=("s", "es", "n", "en")),
    "el": LanguageMasking("prefix", "case endings replace the nominative's (Αθήνα → Αθήνας, Αθηνών); accents move",
                          stem="αεηιουωςσ", fold="greek"),
    "en": LanguageMasking("word", "an analytic language: only the plural -s attaches (Alkane → Alkanes); the "
                          "possessive 's stands after an apostrophe", endings=("s",)),
    "es": LanguageMasking("word", "nouns inflect for number only (gurú → gurús, comité → comités); a prefix rule "
                          "would mask oeste in noroeste-like compounds and clima in climático",
                          endings=("s", "es")),
    "fi": LanguageMasking("prefix", "15 cases as suffixes; a final vowel alternates (Suomi → Suomen)",
                          stem="aeiouyäö"),
    "fr": LanguageMasking("word", "number only (-s, -x); elision (l'Europe, d'Italie) is split at the apostrophe",
                          endings=("s", "x")),
    "hi": LanguageMasking("prefix", "plural and oblique endings and -ीय derivations attach (भारत → भारतीय); "
                          "postpositions are separate words; a final vowel sign alternates (अमेरिका → अमेरिकी)",
                          stem=_DEVANAGARI_SIGNS, min_affix_chars=3, bare_stem=True),
    "id": LanguageMasking("prefix", "suffixes -nya, -an, -kan attach (Jakartanya); prefixes take a hyphen before "
                          "a proper noun (se-Indonesia)"),
    "it": LanguageMasking("word", "number changes the final vowel (cloroplasto → cloroplasti), nothing else "
                          "inflects; elision (dell'Europa) is split at the apostrophe", stem="aeio"),
    "ja": LanguageMasking("substring", "no spaces between words: particles follow the name inside a segment",
                          min_affix_chars=2),
    "ko": LanguageMasking("prefix", "particles attach to the eojeol (서울 → 서울에서, 서울의); each Hangul "
                          "character is a syllable: 2 make a name", min_affix_chars=2),
    "nl": LanguageMasking("prefix", "genitive -s, plural -en/-s, compounds (Amsterdam → Amsterdams)",
                          endings=("s", "en")),
    "pl": LanguageMasking("prefix", "7 cases replace the ending (Polska → Polski, Polsce; Warszawa → Warszawie)",
                          stem="aeoyiąę"),
    "pt": LanguageMasking("word", "number only; contractions (do, na) are separate words", endings=("s", "es")),
    "ru": LanguageMasking("prefix", "6 cases replace the ending (Москва → Москвы, Россия → России, Советский Союз "
                          "→ Советского Союза)", stem=_RUSSIAN_STEM,
                          endings=("а", "у", "е", "ом", "ы", "и", "ой", "ю", "ем", "я")),
    "sv": LanguageMasking("prefix", "genitive -s (Sveriges), definite suffixes, compounds", endings=("s",)),
    "sw": LanguageMasking("prefix", "the locative -ni and other suffixes attach (Mombasa → Mombasani)"),
    "te": LanguageMasking("prefix", "agglutinative: case suffixes attach, a final anusvara or vowel sign "
                          "alternates before them (భారతదేశం → భారతదేశానికి)", stem=_TELUGU_SIGNS,
                          min_affix_chars=3, bare_stem=True),
    "th": LanguageMasking("substring", "no spaces between words", min_affix_chars=2),
    "tr": LanguageMasking("prefix", "case suffixes (after an apostrophe on proper nouns: Avrupa'da; attached on "
                          "common nouns)", fold="turkish"),
    "vi": LanguageMasking("word", "isolating: no inflection; spaces separate syllables, which the name's words "
                          "are matched as"),
    "zh": LanguageMasking("substring", "no spaces between words", min_affix_chars=2),
}

LANGUAGES: Mapping[str, LanguageMasking] = MappingProxyType(_TABLE)
RULE_NAMES = tuple(RULES)


def masking_for(lang: str, fallback: Optional[str] = None) -> LanguageMasking:
    """The table's row for ``lang`` (``en-simple`` → ``en``); a language outside the table takes the row of
    ``fallback`` (the language whose tokenizer it borrows, usually a close one: Bulgarian → Russian); without
    either, the ``prefix`` rule, which leaks least."""
    for code in (lang, lang.split("-")[0], fallback, (fallback or "").split("-")[0]):
        if code and code in LANGUAGES:
            return LANGUAGES[code]
    return LanguageMasking("prefix", "a language outside the table: any suffix")


def with_rule(spec: LanguageMasking, rule: str) -> LanguageMasking:
    """``spec`` with another rule (``--title-masking``), keeping the language's data."""
    if rule not in RULES:
        raise UsageError(f"unknown title masking rule {rule!r}: one of {', '.join(RULE_NAMES)}")
    return replace(spec, rule=rule)


# ---------------------------------------------------------------------------------------------------------------
# Matching names in text
# ---------------------------------------------------------------------------------------------------------------

# Between the words of a name: whitespace or hyphens, whichever the name has ("stress tensor", "stress-tensor";
# "Baden-Württemberg", "Baden Württemberg").
WORD_GAP = r"[\s\-\u2010\u2011\u2013]+"
_NAME_GAP = re.compile(WORD_GAP)
# Quotes and sentence punctuation around a name are not part of it ("“主四合院”", "Yahoo!"); other symbols are
# ("C++", "C#"), and so are brackets: "Lót An-giơ-lét (Lạc Sam cơ)" closes its own.
EDGE_PUNCTUATION = "\"'“”‘’«»„‚「」『』《》.,;:!?。，、；：！？"


def name_words(name: str, fold: str = "") -> List[str]:
    """The normalised words of a name as the masker matches them: split at whitespace and hyphens, quotes and
    sentence punctuation around the name left out."""
    return [word for word in _NAME_GAP.split(normalise(name, fold).strip().strip(EDGE_PUNCTUATION)) if word]


class NameMatch(NamedTuple):
    start: int  # [start, end) in the original text
    end: int
    kind: str  # EXACT, PREFIX or SUBSTRING


class _Name(NamedTuple):
    normalised: str  # its words joined by single spaces
    pattern: "re.Pattern[str]"
    head: bool
    tail: str
    at_least_one_more: bool


class TitleMasker:
    """The names of one entity compiled for one language's rule. ``guarded`` counts the name words that the
    length guard made match whole."""

    def __init__(self, names: Sequence[str], spec: LanguageMasking):
        self.spec = spec
        self.guarded = 0
        rule = RULES[spec.rule]
        self.names: List[_Name] = []
        seen = set()
        for name in names:
            words = name_words(name, spec.fold)
            if not words or tuple(words) in seen:
                continue
            seen.add(tuple(words))
            pieces = [_number(word) if is_number(word) and spec.rule != "substring"
                      else rule(word, spec, f"w{i}", i == 0, " ".join(words)) for i, word in enumerate(words)]
            self.guarded += sum(piece.guarded for piece in pieces)
            regex = ""
            for piece in pieces[:-1]:
                # A word inside the name: its own ending (if any) runs up to the next whitespace.
                if piece.tail == "extend":
                    regex += piece.regex + (r"\S+?" if piece.at_least_one_more else r"\S*?") + WORD_GAP
                elif piece.tail == "number":
                    regex += piece.regex + r"[^\s\d]*?" + WORD_GAP
                else:
                    regex += piece.regex + WORD_GAP
            last = pieces[-1]
            self.names.append(_Name(" ".join(words), re.compile(regex + last.regex), pieces[0].head, last.tail,
                                    last.at_least_one_more))

    def matches(self, text: str) -> List[NameMatch]:
        """Non-overlapping matches of the names in ``text``, leftmost first, the longest at one position."""
        if not self.names:
            return []
        norm = normalise_with_offsets(text, self.spec.fold)
        found = []
        for name in self.names:
            found.extend(self._find(name, norm.text))
        found.sort()
        chosen: List[NameMatch] = []
        last = -1
        for start, neg_end, kind in found:
            if start >= last:
                chosen.append(NameMatch(norm.starts[start], norm.ends[-neg_end - 1], kind))
                last = -neg_end
        return chosen

    @staticmethod
    def _find(name: _Name, text: str):
        """(start, -end, kind) of every place ``name`` matches in the normalised ``text`` with its edges right."""
        n = len(text)
        pos = 0
        while True:
            m = name.pattern.search(text, pos)
            if m is None:
                return
            pos = m.start() + 1
            start, end = m.span()
            if end == start or (name.head and start > 0 and is_word_char(text[start - 1])):
                continue
            if name.tail == "end" and end < n and is_word_char(text[end]):
                continue
            if name.tail in ("extend", "number"):
                stop = end
                while stop < n and is_word_char(text[stop]):
                    stop += 1
                if name.at_least_one_more and stop == end:
                    continue
                if name.tail == "number" and any(c.isdecimal() for c in text[end:stop]):
                    continue
                end = stop
            yield start, -end, _kind(m, " ".join(w for w in _NAME_GAP.split(text[start:end]) if w), name.normalised)


def _kind(m: "re.Match[str]", matched: str, name: str) -> str:
    groups = m.groupdict()
    if any(value for key, value in groups.items() if "_pre" in key):
        return SUBSTRING
    return EXACT if matched == name else PREFIX
