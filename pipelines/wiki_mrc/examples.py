"""Pure functions that turn parsed articles into mPMR MRC triplets (paper 001, §2.2 and Appendix A.1).

Nothing here imports Beam: every function takes plain values and returns plain values, so the example
construction can be read and tested on its own. The Beam graph (``pipeline.py``) only routes records to them.

- :func:`build_query`: the first Q words of the definition article, every word that carries one of the entity's
  names (as the language's row of :mod:`title_masking` says) replaced by the mask token.
- :func:`answerable_context`: C words around an anchor, ξ of them before it and C − ξ after (§2.2, "Stochastic
  Answer Position"; :data:`ANSWER_POSITIONS` also has the ablation's fixed ξ = C/2), with every span identical
  to the anchor text as an answer.
- :func:`unrelated_context`: C words of an article around a random position (unanswerable examples).
- :func:`stable_hash` / :func:`draw`: every random choice is a hash of (seed, stable key) - never process
  state - so any runner, worker count or bundle order gives the same rows (DESIGN.md, deterministic
  randomness).

Words come from :func:`pipelines.tokenize.words`, but only where they are needed: a window of the text around
a position is tokenised (and widened when it holds too few words) instead of the whole article, which is
most of the tokenisation cost of a long article that contributes one 200-word context.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from types import MappingProxyType
from typing import Callable, Dict, Iterable, List, Mapping, NamedTuple, Optional, Sequence, Tuple

from pipelines.wiki_mrc.lead import (DEFAULT_LEAD_PARENTHETICAL, LEAD_CHARS, LEAD_PARENTHETICALS,
                                     name_parentheticals, without_spans)
from pipelines.wiki_mrc.title_masking import (EXACT, MASK_KINDS, SUBSTRING, LanguageMasking, NameMatch,
                                              TitleMasker, masking_for)
from schemas.errors import UsageError

# Paper 001, Appendix A.1: "the query length Q is set to 50 words, and the context length C is set to 200
# words. Both are computed before the subword segmentation."
QUERY_WORDS = 50
CONTEXT_WORDS = 200
# Appendix A.1: "For each anchor entity, we construct 10 answerable MRC examples and 10 unanswerable MRC
# examples", and "Anchor entities with low frequency (below 10 occurrences for English entities and 5
# occurrences for entities in other languages) were excluded."
MAX_ANSWERABLE = 10
MAX_UNANSWERABLE = 10
MIN_MENTIONS_EN = 10
MIN_MENTIONS_OTHER = 5
# The issue (and mPMR's scripts): articles of 20 words or fewer are skipped.
MIN_ARTICLE_WORDS = 21
# PMR/mPMR anonymise the entity "to the [MASK] token" (§2.2). The trainer maps this string to its own
# tokenizer's mask token.
MASK_TOKEN = "[MASK]"

# Languages written without spaces between words: an answer may end inside a "word" as the segmenter sees it,
# so no word-boundary test is applied to them when matching answers (names: title_masking's substring rows,
# the same three languages).
NO_SPACE_LANGUAGES = frozenset({"zh", "ja", "th"})

Word = Tuple[int, int]  # [start, end) character offsets
Tokenize = Callable[[str], Sequence[Tuple[str, int, int]]]


def min_mentions_default(lang: str) -> int:
    return MIN_MENTIONS_EN if lang.split("-")[0] == "en" else MIN_MENTIONS_OTHER


# ---------------------------------------------------------------------------------------------------------------
# Deterministic randomness
# ---------------------------------------------------------------------------------------------------------------

def stable_hash(seed: int, *parts: object) -> int:
    """A 64-bit hash of (seed, parts) that is the same in every process, machine and Python version
    (``hash()`` is salted per process; this is not)."""
    h = hashlib.blake2b(digest_size=8)
    h.update(str(seed).encode())
    for part in parts:
        h.update(b"\x1f")
        h.update(str(part).encode("utf-8", "surrogatepass"))
    return int.from_bytes(h.digest(), "big")


def draw(seed: int, key: str, what: str, n: int) -> int:
    """A uniform integer on ``0..n-1`` for the random choice ``what`` of the item ``key``."""
    return stable_hash(seed, what, key) % n if n > 0 else 0


# How many of the C context words come before the anchor (ξ), by name (``--answer-position``). Paper 001 §2.2
# draws ξ ~ U{0..C} so that the answer may sit anywhere ("stochastic answer position"); its Table 2 ablation
# (row #2 against #3) builds the contexts with C/2 words on each side of the anchor instead.
ANSWER_POSITIONS: Mapping[str, Callable[[int, str, int], int]] = MappingProxyType({
    "stochastic": lambda seed, key, context_words: draw(seed, key, "xi", context_words + 1),
    "centre": lambda seed, key, context_words: context_words // 2,
})
DEFAULT_ANSWER_POSITION = "stochastic"


def answer_position_strategy(name: str) -> Callable[[int, str, int], int]:
    """The strategy of :data:`ANSWER_POSITIONS` called ``name``; a ValueError naming the choices otherwise."""
    try:
        return ANSWER_POSITIONS[name]
    except KeyError:
        raise UsageError(f"unknown answer position {name!r}: one of {', '.join(ANSWER_POSITIONS)}") from None


def words_before_anchor(position: str, seed: int, key: str, context_words: int) -> int:
    """ξ of the example ``key`` under the answer-position strategy ``position``."""
    return answer_position_strategy(position)(seed, key, context_words)


# ---------------------------------------------------------------------------------------------------------------
# Words on demand
# ---------------------------------------------------------------------------------------------------------------

_AVG_CHARS_PER_WORD = 8  # first guess of the window size; the window doubles until it holds enough words


def words_before(text: str, pos: int, n: int, tokenize: Tokenize) -> List[Word]:
    """The last ``n`` words of ``text[:pos]`` (fewer at the start of the text), as ``[start, end)``."""
    if n <= 0 or pos <= 0:
        return []
    budget = max(64, n * _AVG_CHARS_PER_WORD)
    while True:
        lo = max(0, pos - budget)
        found = [(lo + s, lo + e) for _, s, e in tokenize(text[lo:pos])]
        if lo > 0 and found:
            found = found[1:]  # the window may have cut its first word in two
        if len(found) >= n or lo == 0:
            return found[-n:]
        budget *= 2


def words_after(text: str, pos: int, n: int, tokenize: Tokenize) -> List[Word]:
    """The first ``n`` words of ``text[pos:]`` (fewer at the end of the text), as ``[start, end)``."""
    if n <= 0 or pos >= len(text):
        return []
    budget = max(64, n * _AVG_CHARS_PER_WORD)
    while True:
        hi = min(len(text), pos + budget)
        found = [(pos + s, pos + e) for _, s, e in tokenize(text[pos:hi])]
        if hi < len(text) and found:
            found = found[:-1]  # the window may have cut its last word in two
        if len(found) >= n or hi == len(text):
            return found[:n]
        budget *= 2


def has_more_words_than(text: str, n: int, tokenize: Tokenize) -> bool:
    """True when ``text`` has more than ``n`` words (reads only as much of it as that takes)."""
    return len(words_after(text, 0, n + 1, tokenize)) > n


# ---------------------------------------------------------------------------------------------------------------
# Names and the query
# ---------------------------------------------------------------------------------------------------------------

_PAREN_TAIL = re.compile(r"\s*[(（][^()（）]*[)）]\s*$")


def unqualified(title: str) -> str:
    """The title without its disambiguating qualifier: ``"Mercury (planet)"`` → ``"Mercury"`` (the case mPMR's
    scripts leak), and ``"Paris, Texas"`` → ``"Paris"`` (MediaWiki's pipe trick drops a comma qualifier too)."""
    stripped = _PAREN_TAIL.sub("", title).strip()
    if stripped and stripped != title:
        return stripped
    if ", " in title:
        return title.split(", ", 1)[0].strip()
    return title


def entity_names(title: str, aliases: Iterable[str] = ()) -> List[str]:
    """Every name that anonymisation masks: the title, its unqualified form, the lead's bold aliases; longest
    first so that "Tarrow River" is masked as one name before "Tarrow"."""
    names = {title, unqualified(title), *aliases}
    return sorted((n for n in names if n and n.strip()), key=lambda n: (-len(n), n))


class MaskedQuery(NamedTuple):
    text: str
    masked: Dict[str, int]  # masked words by how they carried a name (title_masking.MASK_KINDS)
    guarded: int  # name words the length guard made match whole (title_masking)
    lead_parenthetical: int = 0  # words of the lead's name parentheticals dropped or masked (lead.py)
    lead_parenthetical_groups: int = 0  # the groups dropped, or masked (those with a word in the query)


def build_masked_query(text: str, names: Sequence[str], lang: str, tokenize: Tokenize, *,
                       query_words: int = QUERY_WORDS, mask_token: str = MASK_TOKEN,
                       masking: Optional[LanguageMasking] = None,
                       parenthetical: str = DEFAULT_LEAD_PARENTHETICAL) -> MaskedQuery:
    """The first ``query_words`` words of ``text`` with every word that carries one of the names replaced by
    ``mask_token``, as the language's row of :mod:`title_masking` says (``masking`` overrides it): a word that
    overlaps a name is masked whole, consecutive masks collapse to one, and whitespace runs become single spaces.
    Words are counted before masking (the paper's "first Q words"). The lead's name parentheticals
    (:func:`lead.name_parentheticals`) are dropped before the words are counted, or their words become one mask
    per group, or they are kept, as ``parenthetical`` says (:data:`LEAD_PARENTHETICALS`)."""
    if parenthetical not in LEAD_PARENTHETICALS:
        raise UsageError(f"unknown lead parenthetical {parenthetical!r}: one of {', '.join(LEAD_PARENTHETICALS)}")
    masker = TitleMasker(names, masking or masking_for(lang))
    groups: List[Tuple[int, int]] = []
    if parenthetical != "keep":
        # The groups are in the first sentence: names are matched on the lead only, not the whole article.
        lead = text[:LEAD_CHARS]
        groups = name_parentheticals(lead, [m.end for m in masker.matches(lead)])
    in_group = 0
    groups_hit = set()
    if groups and parenthetical == "drop":
        in_group = sum(len(tokenize(text[a + 1:b - 1])) for a, b in groups)  # their words, as "mask" counts them
        groups_hit = set(groups)
        text = without_spans(text, groups)
        groups = []
    found = words_after(text, 0, query_words, tokenize)
    masked = dict.fromkeys(MASK_KINDS, 0)
    if not found:
        return MaskedQuery("", masked, masker.guarded, in_group, len(groups_hit))
    end = found[-1][1]
    # Search a little past the last word, so that a name cut by the Q-word limit is still masked.
    matches = masker.matches(text[:end + max(map(len, names), default=0)])
    pieces: List[str] = []
    last_end = None
    last_was_mask = False
    k = 0
    for start, stop in found:
        while k < len(matches) and matches[k].end <= start:
            k += 1
        kind = _mask_kind(start, stop, matches, k)
        if kind:
            masked[kind] += 1
        else:
            group = next((g for g in groups if g[0] < start and stop < g[1]), None)
            if group is not None:
                kind = "parenthetical"  # the group's brackets stay, its words become one mask
                in_group += 1
                groups_hit.add(group)
        gap = "" if last_end is None else text[last_end:start]
        if kind and last_was_mask and not gap.strip():
            last_end = stop  # a mask right after a mask: one mask stands for both
            continue
        if last_end is not None and gap:
            pieces.append(_squeeze(gap))
        pieces.append(mask_token if kind else text[start:stop])
        last_was_mask = bool(kind)
        last_end = stop
    return MaskedQuery("".join(pieces).strip(), masked, masker.guarded, in_group, len(groups_hit))


def _mask_kind(start: int, stop: int, matches: Sequence[NameMatch], k: int) -> Optional[str]:
    """How the word [start, stop) carries a name, if it overlaps one of the matches (from index ``k`` on): the
    strongest kind among them, and ``substring`` where the word reaches beyond an exact match (a name inside a
    segmenter's word: 北京 in 北京大学)."""
    kind = None
    while k < len(matches) and matches[k].start < stop:
        match = matches[k]
        this = match.kind
        if this == EXACT and (start < match.start or stop > match.end):
            this = SUBSTRING
        if kind is None or MASK_KINDS.index(this) > MASK_KINDS.index(kind):
            kind = this
        k += 1
    return kind


def build_query(text: str, names: Sequence[str], lang: str, tokenize: Tokenize, *,
                query_words: int = QUERY_WORDS, mask_token: str = MASK_TOKEN,
                masking: Optional[LanguageMasking] = None,
                parenthetical: str = DEFAULT_LEAD_PARENTHETICAL) -> str:
    """:func:`build_masked_query`'s text."""
    return build_masked_query(text, names, lang, tokenize, query_words=query_words, mask_token=mask_token,
                              masking=masking, parenthetical=parenthetical).text


def _squeeze(gap: str) -> str:
    """Text between two words with its whitespace runs collapsed to one space (it is usually just " ")."""
    if not gap.strip():
        return " "
    lead = " " if gap[0].isspace() else ""
    trail = " " if gap[-1].isspace() else ""
    return lead + " ".join(gap.split()) + trail


# ---------------------------------------------------------------------------------------------------------------
# Contexts and answers
# ---------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Context:
    text: str
    start: int  # offset of the context in the article text
    answers: Tuple[Tuple[int, int], ...]  # [start, end) in ``text``
    words_before: int  # words of the context before the anchor (ξ after clipping)
    words_after: int


def find_answers(context: str, anchor_text: str, lang: str, must_include: Optional[int] = None
                 ) -> Tuple[Tuple[int, int], ...]:
    """Every span of ``context`` identical to ``anchor_text`` (paper 001 §2.2: "we treated all text spans
    identical to the anchor in the current context as valid answers"), non-overlapping, left to right.

    In languages written with spaces a match must not start or end inside a word ("art" is not an answer in
    "start"); the anchor's own occurrence ``must_include`` (its start in the context) is always an answer."""
    n = len(anchor_text)
    if not n:
        return ()
    spaced = lang.split("-")[0] not in NO_SPACE_LANGUAGES
    head_word, tail_word = anchor_text[0].isalnum(), anchor_text[-1].isalnum()
    candidates = []
    pos = context.find(anchor_text)
    while pos >= 0:
        ok = True
        if spaced and pos != must_include:
            if head_word and pos > 0 and context[pos - 1].isalnum():
                ok = False
            if tail_word and pos + n < len(context) and context[pos + n].isalnum():
                ok = False
        if ok:
            candidates.append(pos)
        pos = context.find(anchor_text, pos + 1)
    chosen: List[Tuple[int, int]] = []
    if must_include is not None:
        chosen.append((must_include, must_include + n))
    for pos in candidates:
        span = (pos, pos + n)
        if all(span[1] <= a or span[0] >= b for a, b in chosen):
            chosen.append(span)
    return tuple(sorted(chosen))


def answerable_context(text: str, anchor_start: int, anchor_end: int, xi: int, lang: str, tokenize: Tokenize,
                       *, context_words: int = CONTEXT_WORDS) -> Context:
    """``xi`` words before the anchor and ``context_words - xi`` after it, clipped at the article's bounds
    (paper 001 §2.2). The anchor itself is not counted among the C words."""
    xi = max(0, min(xi, context_words))
    before = words_before(text, anchor_start, xi, tokenize)
    after = words_after(text, anchor_end, context_words - xi, tokenize)
    start = before[0][0] if before else anchor_start
    end = after[-1][1] if after else anchor_end
    context = text[start:end]
    anchor_text = text[anchor_start:anchor_end]
    answers = find_answers(context, anchor_text, lang, must_include=anchor_start - start)
    return Context(context, start, answers, len(before), len(after))


_SPACE = re.compile(r"\s")


def unrelated_context(text: str, pos: int, xi: int, tokenize: Tokenize, *,
                      context_words: int = CONTEXT_WORDS) -> Context:
    """C words of ``text`` around the character position ``pos`` (moved to the next whitespace so it does not
    cut a word): ``xi`` words before it and ``context_words - xi`` after, clipped at the bounds. If a bound
    clips one side, the other side takes the missing words, so a long enough article always gives C words."""
    xi = max(0, min(xi, context_words))
    m = _SPACE.search(text, pos)
    pos = m.start() if m else len(text)
    before = words_before(text, pos, xi, tokenize)
    after = words_after(text, pos, context_words - len(before), tokenize)
    if len(before) + len(after) < context_words:
        before = words_before(text, pos, context_words - len(after), tokenize)
    if not before and not after:
        return Context("", pos, (), 0, 0)
    start = (before or after)[0][0]
    end = (after or before)[-1][1]
    return Context(text[start:end], start, (), len(before), len(after))
