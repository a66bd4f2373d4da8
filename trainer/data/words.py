"""Words of raw text with their character offsets, for tagging a sentence a user typed (``trainer.predict``).

The pipelines' tokenisers (spaCy and friends, ``pipelines.tokenize``) are not the trainer's to import, so
raw text is split by one Unicode-aware rule instead: white space separates words, and punctuation is split
off them as the CoNLL and WikiANN data the taggers learn from have it (``München.`` is ``München`` and ``.``),
while what belongs to a word stays in it:

- letters with their combining marks (Devanagari, Arabic diacritics) and digits, joined by inner hyphens and
  apostrophes (``Baden-Württemberg``, ``O'Neill``); an elided article or preposition before an apostrophe is
  a word of its own (``l'``/``d'``/``dell'`` + ``Europa``), as is the English possessive ``'s``;
- abbreviations of single letters with dots (``U.S.``, ``z.B.``), initials (``J.``), numbers and dates
  with inner separators (``3.5``, ``1,000``, ``12:30``, ``1996-12-06``), English ``n't`` as CoNLL has it;
- Han, Hiragana and Katakana one character each (texts without spaces; Chinese NER data is tagged per
  character);
- a run of one repeated punctuation mark (``--``, ``...``) as one word, every other non-space character
  (punctuation, symbols) one at a time.

Offsets are ``[start, end)`` into the text given, so ``text[start:end] == word`` always.
"""
from __future__ import annotations

import regex

_IDEOGRAPHIC = r"\p{Han}\p{Hiragana}\p{Katakana}"
_LETTER = rf"[\p{{L}}\p{{M}}\p{{N}}_--[{_IDEOGRAPHIC}]]"
_WORD_RE = regex.compile(rf"""
      (?:\p{{L}}\.){{2,}}(?!\p{{L}})                                # U.S.  z.B.
    | \p{{Lu}}\.(?!\p{{L}})                                         # initials: J. Smith
    | \p{{N}}+(?:[.,:/-]\p{{N}}+)*(?![\p{{L}}\p{{N}}])              # 3.5  1,000  12:30  1996-12-06
    | n['’]t(?!\p{{L}})
    | (?i:l|d|j|m|n|s|t|c|qu|lorsqu|puisqu|jusqu|dell|dall|nell|sull|all|quell|un)['’](?=\p{{L}})
    | ['’][sS](?![\p{{L}}\p{{N}}])                                  # possessive 's
    | \p{{L}}+(?=n['’]t(?!\p{{L}}))                                   # do|n't
    | {_LETTER}+(?:[-'’](?![sS](?![\p{{L}}\p{{N}}])){_LETTER}+)*        # words, inner hyphens and apostrophes
    | [{_IDEOGRAPHIC}]\p{{M}}*                                      # one ideograph or kana
    | (\p{{P}})\1+                                                 # -- ... !!
    | \S\p{{M}}*                                                    # anything else, one at a time
""", regex.VERBOSE | regex.V1)


def split_words(text: str) -> list[tuple[str, int, int]]:
    """``(word, start, end)`` for every word of ``text`` in order; ``text[start:end] == word``."""
    return [(match.group(), match.start(), match.end()) for match in _WORD_RE.finditer(text)]
