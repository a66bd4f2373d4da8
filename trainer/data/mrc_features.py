"""MRC rows (query, context, character-offset answers) as model inputs for the span extractor.

Each row becomes one sequence ``[CLS] query [SEP] context [SEP]`` (``[CLS] query [SEP] [SEP] context [SEP]``
with ``double_separator``, the XLM-R pair template of paper 001 Table 6). The query keeps at most
``max_query_length`` tokens and the context the rest of ``max_length``. Answers are mapped from characters to
tokens with the fast tokenizer's offset mapping; an answer cut off by the truncation is counted and dropped,
and a positive whose answers are all gone becomes an unanswerable example (paper 001 §2.1: relevance is 1
iff the context holds the answer, and after truncation it no longer does).

Answers stay sparse - a list of inclusive ``(start, end)`` token positions per example, and one ``[K, 3]``
tensor of ``(example, start, end)`` per batch - because the dense ``L x L`` label matrix is built on the
device by the objective (trainer/models/span_extractor.py).
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Sequence

import numpy as np
import torch

from schemas.errors import InputDataError, UserError

# Sequence positions are tensors of this type; the collator and the objective agree on it.
INDEX_DTYPE = torch.long


class FeatureLengthError(UserError, ValueError):
    """Input lengths that leave no room for a context: ``data.max_length`` and ``data.max_query_length`` of a
    training config, or the settings a fine-tuned checkpoint recorded. (This room cannot import the config's
    ``ConfigError``; a ``ValueError`` too, as it was.)"""


def pad_id(tokenizer) -> int:
    """The id every collator pads with: the tokenizer's pad token, or 0 for a tokenizer without one."""
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0


@dataclass
class MRCFeatureConfig:
    # Table 5 of paper 001 (EQA fine-tuning): input length 384, query length 64. Pretraining builds its
    # queries and contexts in words (Q = 50, C = 200, Appendix A.1); set these to fit the tokenizer.
    max_length: int = 384
    max_query_length: int = 64
    # `[CLS] Q [SEP] [SEP] C [SEP]`, the RoBERTa/XLM-R pair template shown in paper 001 Table 6.
    double_separator: bool = False

    def special_tokens(self) -> int:
        return 4 if self.double_separator else 3


@dataclass
class MRCFeature:
    """One tokenised MRC example. Positions index ``input_ids``; answer spans are inclusive."""

    example_id: str
    input_ids: list[int]
    token_type_ids: list[int] | None
    context_start: int  # position of the first context token
    context_end: int  # one past the last context token
    context_offsets: list[tuple[int, int]]  # character span in the context of each kept context token
    answer_spans: list[tuple[int, int]]
    answers: int  # answers the row had
    answers_truncated: int  # lost because the context was cut
    answers_unmappable: int  # covering no token at all (e.g. whitespace only)
    query_truncated: bool
    context_truncated: bool

    @property
    def answerable(self) -> bool:
        return bool(self.answer_spans)

    @property
    def made_unanswerable(self) -> bool:
        """A positive row that lost all of its answers to truncation (or mapping)."""
        return self.answers > 0 and not self.answer_spans


@dataclass
class FeatureStats:
    """Counts over featurised examples (DESIGN.md: nothing silently lost)."""

    examples: int = 0
    answers: int = 0
    answers_kept: int = 0
    answers_truncated: int = 0
    answers_unmappable: int = 0
    made_unanswerable: int = 0
    queries_truncated: int = 0
    contexts_truncated: int = 0

    def add(self, feature: MRCFeature) -> None:
        self.examples += 1
        self.answers += feature.answers
        # Counted per answer, before two answers that cover the same tokens become one span.
        self.answers_kept += feature.answers - feature.answers_truncated - feature.answers_unmappable
        self.answers_truncated += feature.answers_truncated
        self.answers_unmappable += feature.answers_unmappable
        self.made_unanswerable += int(feature.made_unanswerable)
        self.queries_truncated += int(feature.query_truncated)
        self.contexts_truncated += int(feature.context_truncated)

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def char_span_to_tokens(offsets: Sequence[tuple[int, int]], start: int, end: int) -> tuple[int, int] | None:
    """Inclusive ``(first, last)`` indices of the tokens overlapping characters ``[start, end)``, or None.

    Overlap (rather than exact boundaries) keeps answers that start or end inside a subword, and tokens
    whose offsets include a leading space marker (SentencePiece's "▁") still count for the word they carry.
    Tokens with empty offsets (added by the normaliser, not in the text) never match."""
    first = last = None
    for index, (token_start, token_end) in enumerate(offsets):
        if token_end <= token_start or token_end <= start:
            continue
        if token_start >= end:
            break
        if first is None:
            first = index
        last = index
    return None if first is None else (first, last)


# Tokenizer arguments for a query or a context on its own: ids and character offsets, no specials (the
# featurizer places them itself) and no length warnings (it truncates itself).
OFFSETS_ONLY = dict(add_special_tokens=False, return_offsets_mapping=True, return_attention_mask=False,
                    return_token_type_ids=False, verbose=False)


def check_query_context_tokenizer(tokenizer, what: str) -> None:
    """What a (query, context) featurizer needs of its tokenizer: offset mappings (a fast tokenizer) and cls and
    sep tokens. ``what`` names the features in the error ("MRC", "QA")."""
    if not getattr(tokenizer, "is_fast", False):
        raise InputDataError(f"{what} features need a fast tokenizer (offset mappings, a tokenizer.json); got "
                             f"{type(tokenizer).__name__}")
    if tokenizer.cls_token_id is None or tokenizer.sep_token_id is None:
        raise InputDataError(f"{what} features need a tokenizer with a cls and a sep token; "
                             f"{type(tokenizer).__name__} lacks one")


def context_room(config) -> int:
    """Tokens left for the context after a query of ``config.max_query_length`` and the special tokens, within
    ``config.max_length``; an error when none are."""
    room = config.max_length - config.max_query_length - config.special_tokens()
    if room < 1:
        raise FeatureLengthError(f"data.max_length {config.max_length} leaves no room for a context after a query of "
                                 f"data.max_query_length {config.max_query_length} tokens and "
                                 f"{config.special_tokens()} special tokens: raise data.max_length or lower "
                                 "data.max_query_length")
    return room


class MRCFeaturizer:
    """Turns MRC rows (dicts with ``id``, ``query``, ``context``, ``answers``) into ``MRCFeature``s.

    Needs a transformers *fast* tokenizer (for ``return_offsets_mapping``) with ``cls`` and ``sep`` tokens.
    ``stats`` accumulates counts over every call."""

    def __init__(self, tokenizer, config: MRCFeatureConfig | None = None):
        self.tokenizer = tokenizer
        self.config = config or MRCFeatureConfig()
        check_query_context_tokenizer(tokenizer, "MRC")
        context_room(self.config)
        # BERT-style models take segment ids; XLM-R-style tokenizers do not list them.
        self.with_token_types = "token_type_ids" in tokenizer.model_input_names
        self.stats = FeatureStats()

    def __call__(self, rows: Sequence[dict]) -> list[MRCFeature]:
        if not rows:
            return []
        queries = self.tokenizer([row["query"] for row in rows], **OFFSETS_ONLY)
        contexts = self.tokenizer([row["context"] for row in rows], **OFFSETS_ONLY)
        features = [self._feature(row, queries["input_ids"][n], contexts["input_ids"][n],
                                  contexts["offset_mapping"][n]) for n, row in enumerate(rows)]
        for feature in features:
            self.stats.add(feature)
        return features

    def _feature(self, row: dict, query_ids: list[int], context_ids: list[int],
                 context_offsets: list[tuple[int, int]]) -> MRCFeature:
        config, cls, sep = self.config, self.tokenizer.cls_token_id, self.tokenizer.sep_token_id
        query = query_ids[:config.max_query_length]
        between = [sep, sep] if config.double_separator else [sep]
        context_start = 1 + len(query) + len(between)
        kept = min(len(context_ids), config.max_length - context_start - 1)
        input_ids = [cls, *query, *between, *context_ids[:kept], sep]

        spans, truncated, unmappable = set(), 0, 0
        for answer in row["answers"]:
            tokens = char_span_to_tokens(context_offsets, answer["start"], answer["end"])
            if tokens is None:
                unmappable += 1
            elif tokens[1] >= kept:
                truncated += 1
            else:
                spans.add((context_start + tokens[0], context_start + tokens[1]))

        token_type_ids = None
        if self.with_token_types:
            token_type_ids = [0] * context_start + [1] * (kept + 1)
        return MRCFeature(
            example_id=row.get("id", ""), input_ids=input_ids, token_type_ids=token_type_ids,
            context_start=context_start, context_end=context_start + kept,
            context_offsets=[tuple(offset) for offset in context_offsets[:kept]],
            answer_spans=sorted(spans), answers=len(row["answers"]), answers_truncated=truncated,
            answers_unmappable=unmappable, query_truncated=len(query_ids) > len(query),
            context_truncated=len(context_ids) > kept)


def padded_span_batch(features: Sequence, pad_token_id: int, pad_to_multiple_of: int | None = None,
                 max_length: int | None = None):
    """The keys every span-extractor batch has, from features that carry ``input_ids``, ``token_type_ids``,
    ``context_start``/``context_end``, ``answer_spans`` and ``example_id``: ``input_ids``, ``attention_mask``
    (and ``token_type_ids`` where the tokenizer makes them) padded to the longest (rounded up to
    ``pad_to_multiple_of``, which tensor cores prefer, but never past ``max_length``), ``context_start``,
    ``context_end``, ``answer_spans`` as a ``[K, 3]`` tensor of ``(example, start, end)`` rows, and the
    non-tensor ``example_ids``. Shared by the MRC and QA collators, which add their own keys."""
    if not features:
        raise ValueError("cannot collate an empty batch")
    length = max(len(feature.input_ids) for feature in features)
    if pad_to_multiple_of:
        rounded = -(-length // pad_to_multiple_of) * pad_to_multiple_of
        length = rounded if max_length is None else max(length, min(rounded, max_length))
    batch_size = len(features)
    input_ids = torch.full((batch_size, length), pad_token_id, dtype=INDEX_DTYPE)
    attention_mask = torch.zeros((batch_size, length), dtype=INDEX_DTYPE)
    with_types = features[0].token_type_ids is not None
    token_type_ids = torch.zeros((batch_size, length), dtype=INDEX_DTYPE) if with_types else None
    spans = []
    for n, feature in enumerate(features):
        size = len(feature.input_ids)
        input_ids[n, :size] = torch.tensor(feature.input_ids, dtype=INDEX_DTYPE)
        attention_mask[n, :size] = 1
        if with_types:
            token_type_ids[n, :size] = torch.tensor(feature.token_type_ids, dtype=INDEX_DTYPE)
        spans += [(n, start, end) for start, end in feature.answer_spans]
    batch = {
        "input_ids": input_ids,
        "attention_mask": attention_mask,
        "context_start": torch.tensor([f.context_start for f in features], dtype=INDEX_DTYPE),
        "context_end": torch.tensor([f.context_end for f in features], dtype=INDEX_DTYPE),
        "answer_spans": torch.tensor(spans, dtype=INDEX_DTYPE).reshape(-1, 3),
        "example_ids": [f.example_id for f in features],
    }
    if with_types:
        batch["token_type_ids"] = token_type_ids
    return batch


def collate_mrc(features: Sequence[MRCFeature], pad_token_id: int, pad_to_multiple_of: int | None = None,
                max_length: int | None = None) -> dict:
    """Pad a list of features to the longest one (rounded up to ``pad_to_multiple_of``, which tensor cores
    prefer, but never past ``max_length``) and stack them. Answers stay sparse: ``answer_spans`` is a
    ``[K, 3]`` tensor of ``(example, start, end)`` rows; the objective builds the label matrix on the device."""
    batch = padded_span_batch(features, pad_token_id, pad_to_multiple_of, max_length)
    batch["answerable"] = torch.tensor([f.answerable for f in features], dtype=torch.bool)
    # Per-example counts travel with the batch so the training loop (not a worker) can log them.
    batch["answers_truncated"] = torch.tensor([f.answers_truncated for f in features], dtype=INDEX_DTYPE)
    batch["made_unanswerable"] = torch.tensor([f.made_unanswerable for f in features], dtype=torch.bool)
    return batch


class MRCCollator:
    """``collate_fn`` for a DataLoader over MRC rows: featurise the batch, then pad it dynamically."""

    def __init__(self, tokenizer, config: MRCFeatureConfig | None = None, pad_to_multiple_of: int | None = 8):
        self.featurizer = MRCFeaturizer(tokenizer, config)
        self.pad_token_id = pad_id(tokenizer)
        self.pad_to_multiple_of = pad_to_multiple_of

    def __call__(self, rows: Sequence[dict]) -> dict:
        return collate_mrc(self.featurizer(rows), self.pad_token_id, self.pad_to_multiple_of,
                           max_length=self.featurizer.config.max_length)


def trim_offsets(text: str, offsets: Sequence[Sequence[int]]) -> list[tuple[int, int]]:
    """Token offsets without leading or trailing white space: SentencePiece-style tokenizers ('▁' word
    markers) report a word's token from the space before it, which would put the space into answers."""
    trimmed = []
    for start, end in offsets:
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        trimmed.append((start, end))
    return trimmed


def context_span_table(feature, seq_len: int, max_answer_length: int) -> np.ndarray:
    """``[L, L]`` bool: cells (i, j) that are a context span of at most ``max_answer_length`` tokens."""
    positions = np.arange(seq_len)
    inside = (positions >= feature.context_start) & (positions < feature.context_end)
    width = positions[None, :] - positions[:, None]
    return inside[:, None] & inside[None, :] & (width >= 0) & (width < max_answer_length)


def word_offsets(words: Sequence[str]) -> tuple[str, list[tuple[int, int]]]:
    """The sentence as text (words joined by single spaces) and each word's character span in it."""
    offsets, position = [], 0
    for word in words:
        offsets.append((position, position + len(word)))
        position += len(word) + 1
    return " ".join(words), offsets


def chars_to_words(start: int, end: int, offsets: Sequence[tuple[int, int]]) -> tuple[int, int] | None:
    """Words ``[first, last)`` overlapping characters ``[start, end)``, or None."""
    covered = [n for n, (word_start, word_end) in enumerate(offsets) if word_start < end and start < word_end]
    return (covered[0], covered[-1] + 1) if covered else None
