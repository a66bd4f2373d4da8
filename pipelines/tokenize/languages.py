"""Which word tokenizer each of the 24 mPMR languages gets, and why.

The rule comes from the mPMR paper (Appendix A.1): "Word tokenization is performed using spaCy if the
language is supported, otherwise, we utilize PyThaiNLP for Thai and Sacremoses for remaining languages."
With spaCy 3.8 that leaves Sacremoses for Swahili only. No trained spaCy pipeline is used: `spacy.blank`
gives the language's tokenizer without any download, and the tokenizer is all we need.

This module is pure data (no imports of the tokenizers themselves) so the table can be read, documented and
validated without loading spaCy.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Dict, Mapping, Optional

from schemas.errors import UsageError


SPACY = "spacy"
PYTHAINLP = "pythainlp"
SACREMOSES = "sacremoses"


@dataclass(frozen=True)
class Language:
    code: str
    name: str
    backend: str
    # spaCy config overrides for `spacy.blank(code, config=...)`; only the languages whose spaCy tokenizer
    # delegates to an external segmenter need one.
    spacy_config: Optional[Mapping[str, Any]] = None
    # The external segmenter spaCy delegates to, if any (for the description and the table in docs/tokenisation.md).
    segmenter: Optional[str] = None
    # Largest piece of text handed to the tokenizer at once (see offsets.pieces).
    max_chars: int = 100_000
    why: str = field(default="", compare=False)


def _spacy(code: str, name: str, why: str = "spaCy rule-based tokenizer (prefix/suffix/infix rules and "
           "exceptions)", **kwargs: Any) -> Language:
    return Language(code, name, SPACY, why=why, **kwargs)


_TABLE = (
    _spacy("ar", "Arabic"),
    _spacy("bn", "Bengali"),
    _spacy("de", "German"),
    _spacy("el", "Greek"),
    _spacy("en", "English"),
    _spacy("es", "Spanish"),
    _spacy("fi", "Finnish"),
    _spacy("fr", "French"),
    _spacy("hi", "Hindi"),
    _spacy("id", "Indonesian"),
    _spacy("it", "Italian"),
    # Split mode A (SudachiPy's shortest units, spaCy's default) keeps words short enough that an entity
    # boundary rarely falls inside a word; mode C would merge e.g. 国立国語研究所 into one word.
    # SudachiPy refuses inputs over 49,149 UTF-8 bytes: 12,000 characters is under that even at 4 bytes each.
    _spacy("ja", "Japanese", why="no spaces between words: SudachiPy morphological analysis, split mode A",
           segmenter="sudachipy", spacy_config={"nlp": {"tokenizer": {"split_mode": "A"}}}, max_chars=12_000),
    # spaCy's Korean tokenizer runs MeCab-ko (through natto-py) over mecab-ko-dic; see backends.py for how the
    # bundled library and dictionary of python-mecab-ko are found, and for the rule-based fallback.
    _spacy("ko", "Korean", why="eojeol (space-separated units) glue particles and endings onto stems: MeCab-ko "
           "morphemes", segmenter="mecab-ko"),
    _spacy("nl", "Dutch"),
    _spacy("pl", "Polish"),
    _spacy("pt", "Portuguese"),
    _spacy("ru", "Russian"),
    _spacy("sv", "Swedish"),
    Language("sw", "Swahili", SACREMOSES,
             why="spaCy has no Swahili: Moses rules (paper's rule for unsupported languages); sacremoses has no "
                 "Swahili non-breaking prefixes, so it uses its English list"),
    _spacy("te", "Telugu"),
    # spaCy's own Thai tokenizer is PyThaiNLP newmm too; the paper names PyThaiNLP, and calling it directly
    # skips building a Doc for nothing.
    Language("th", "Thai", PYTHAINLP, segmenter="newmm",
             why="no spaces between words: PyThaiNLP dictionary-based maximal matching (newmm)"),
    _spacy("tr", "Turkish"),
    # pyvi joins the syllables of one word ("Việt Nam"), so a word may contain a space.
    _spacy("vi", "Vietnamese", why="spaces separate syllables, not words: pyvi CRF word segmentation",
           segmenter="pyvi", spacy_config={"nlp": {"tokenizer": {"use_pyvi": True}}}),
    # pkuseg (spaCy's other choice) needs a model download; jieba ships its dictionary.
    _spacy("zh", "Chinese", why="no spaces between words: jieba dictionary + HMM segmentation (precise mode)",
           segmenter="jieba", spacy_config={"nlp": {"tokenizer": {"segmenter": "jieba"}}}),
)

LANGUAGES: Mapping[str, Language] = MappingProxyType({language.code: language for language in _TABLE})

SUPPORTED_LANGUAGES = tuple(sorted(LANGUAGES))


def language(code: str) -> Language:
    """The table entry for `code`; an unknown code is a ValueError that lists the supported ones."""
    try:
        return LANGUAGES[code]
    except (KeyError, TypeError):
        raise UsageError(f"unsupported language code {code!r}: word tokenisation is defined for "
                         f"{', '.join(SUPPORTED_LANGUAGES)}") from None


def spacy_config(entry: Language) -> Dict[str, Any]:
    """A fresh, mutable copy of the spaCy config overrides (spaCy may modify what it is given)."""
    import copy
    return copy.deepcopy(dict(entry.spacy_config or {}))
