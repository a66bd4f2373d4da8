"""Word tokenisation with character offsets for the 24 mPMR languages.

    >>> from pipelines.tokenize import words
    >>> words("Don't stop.", "en")
    [('Do', 0, 2), ("n't", 2, 5), ('stop', 6, 10), ('.', 10, 11)]

`words(text, lang)` returns `(word, start, end)` with `text[start:end] == word`, in text order, never
overlapping, never blank. Which tokenizer serves which language (spaCy where it has the language, PyThaiNLP
for Thai, Sacremoses for Swahili, as in the mPMR paper, Appendix A.1) is in `languages.py`;
`tokenizer_name(lang)` describes it, versions included, for manifests.

Importing this package loads no tokenizer (and neither spaCy nor torch): each language's tokenizer is
built on its first use in a process and reused, so `words` is safe to call from Beam DoFns (it pickles by
reference, and every worker builds its own).
"""
from __future__ import annotations

from typing import List, Tuple

from . import backends
from .backends import import_spacy_without_torch
from .languages import SUPPORTED_LANGUAGES
from .offsets import AlignmentError

__all__ = ["words", "tokenizer_name", "import_spacy_without_torch", "SUPPORTED_LANGUAGES", "AlignmentError"]


def words(text: str, lang: str) -> List[Tuple[str, int, int]]:
    """The words of `text` as `(word, start, end)`, `[start, end)` being character offsets into `text`.

    Raises ValueError for a language code outside SUPPORTED_LANGUAGES, TypeError if `text` is not a str,
    and AlignmentError (a ValueError) if a tokenizer's output cannot be placed on the text."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    return backends.get(lang).words(text)


def tokenizer_name(lang: str) -> str:
    """A human description of the tokenizer used for `lang`, e.g. "spaCy 3.8.18 blank('ja') + SudachiPy 0.7.0
    (sudachidict_core 20261015, split mode A)". It builds the tokenizer if needed, because what is used can
    depend on the machine (Korean falls back to a rule-based tokenizer when MeCab cannot be loaded)."""
    return backends.get(lang).name
