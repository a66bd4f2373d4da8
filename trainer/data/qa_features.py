"""Extractive QA data: SQuAD v1.1 JSON readers and sliding-window features for three QA heads.

Readers: SQuAD v1.1 JSON as XQuAD and MLQA ship it (``{"version": ..., "data": [...]}``) and TyDi QA GoldP
(the same layout without ``version``). Every answer is checked against its context (``context[start:start +
len(text)] == text``); a malformed file or a misplaced answer is a ``QADataError`` naming the file and the
position (``data[3].paragraphs[0].qas[2].answers[0]``).

Features: the question keeps at most ``max_query_length`` tokens; a context longer than the room left in
``max_length`` is cut into windows of context tokens whose starts advance by ``doc_stride`` tokens (BERT's
``run_squad`` convention: consecutive windows overlap by ``room - doc_stride`` tokens) until one reaches the
end of the context, so every context token lies in at least one window. Layouts per head:

- ``start_end`` and ``extractor``: ``[CLS] Q [SEP] C [SEP]`` (``[CLS] Q [SEP] [SEP] C [SEP]`` with
  ``double_separator``, paper 001 Table 6) - the layout of ``trainer.data.mrc_features.MRCFeaturizer``.
- ``que``: ``[CLS] Q [QUE] [SEP] C [SEP]`` (paper 000 eq. 10); ``que_position`` points at ``[QUE]``.

Targets: the first gold answer, as inclusive sequence positions, is the start/end target of a window that
holds it whole; a window without it targets the ``[CLS]`` cell (position 0). For the extractor every gold
answer inside the window is a span (and ``[CLS]`` is relevant iff one is), in ``collate_mrc``'s sparse
``[K, 3]`` form so ``trainer.models.span_extractor.wae_loss`` trains it.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Iterator, Sequence

import torch

from schemas.errors import InputDataError
from trainer.data.mrc_features import (INDEX_DTYPE, OFFSETS_ONLY, char_span_to_tokens, check_query_context_tokenizer,
                                       context_room, pad_id, padded_span_batch, trim_offsets)
from trainer.data.qa_windows import DOC_STRIDE, MAX_LENGTH, MAX_QUERY_LENGTH
from trainer.data.squad import QAExample

HEADS = ("start_end", "extractor", "que")
QUE_TOKEN = "[QUE]"


# ---------------------------------------------------------------------------------------------------------
# Sliding-window features

@dataclass
class QAFeatureConfig:
    max_length: int = MAX_LENGTH  # trainer/data/qa_windows.py: the papers' lengths
    doc_stride: int = DOC_STRIDE
    max_query_length: int = MAX_QUERY_LENGTH
    head: str = "start_end"  # one of HEADS
    double_separator: bool = False
    que_token: str = QUE_TOKEN

    def special_tokens(self) -> int:
        return 3 + int(self.double_separator) + int(self.head == "que")


@dataclass
class QAFeature:
    """One window of one example. Positions index ``input_ids``; spans are inclusive."""

    example_id: str
    window: int  # index of the window within its example
    input_ids: list[int]
    token_type_ids: list[int] | None
    context_start: int  # sequence position of the window's first context token
    context_end: int  # one past its last
    context_token_start: int  # index of that first token among the example's context tokens
    context_offsets: list[tuple[int, int]]  # character span in the context of each window token
    que_position: int | None
    start_position: int  # 0 ([CLS]) when the window does not hold the first answer
    end_position: int
    answer_spans: list[tuple[int, int]] = field(default_factory=list)  # every gold answer in the window

    @property
    def holds_answer(self) -> bool:
        return self.start_position > 0


@dataclass
class QAFeatureStats:
    examples: int = 0
    windows: int = 0
    windows_with_answer: int = 0
    examples_split: int = 0  # contexts that needed more than one window
    queries_truncated: int = 0
    answers: int = 0
    answers_unmappable: int = 0  # covering no context token (white space only)
    answers_in_no_window: int = 0  # longer than a window: never whole in one

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def window_starts(length: int, room: int, stride: int) -> list[int]:
    """First context token of each window over ``length`` tokens: windows of ``room`` tokens whose starts
    advance by ``stride`` until one reaches the end."""
    if room < 1 or stride < 1:
        raise ValueError(f"window room ({room}) and stride ({stride}) must be positive")
    starts = [0]
    while starts[-1] + room < length:
        starts.append(starts[-1] + min(stride, room))
    return starts


class QAFeaturizer:
    """QA rows (``id``, ``query`` or ``question``, ``context``, ``answers``) -> ``QAFeature`` windows.

    Needs a fast tokenizer with ``cls`` and ``sep`` tokens; the ``que`` head needs ``config.que_token`` in
    its vocabulary as a special token (``trainer.data.clism_features.add_que_token``)."""

    def __init__(self, tokenizer, config: QAFeatureConfig | None = None):
        self.tokenizer = tokenizer
        self.config = config = config or QAFeatureConfig()
        if config.head not in HEADS:
            raise ValueError(f"unknown QA head {config.head!r}; known: {', '.join(HEADS)}")
        check_query_context_tokenizer(tokenizer, "QA")
        self.que_id = None
        if config.head == "que":
            ids = tokenizer.convert_tokens_to_ids([config.que_token])
            if not ids or ids[0] is None or ids[0] == tokenizer.unk_token_id:
                raise InputDataError(f"the tokenizer has no {config.que_token!r} token, which the que head reads: "
                                     "fine-tune with trainer.finetune (it adds the token), or add it with "
                                     "trainer.data.clism_features.add_que_token(tokenizer, model)")
            self.que_id = ids[0]
        self.room = context_room(config)
        self.with_token_types = "token_type_ids" in tokenizer.model_input_names
        self.stats = QAFeatureStats()

    def __call__(self, rows: Sequence[dict]) -> list[QAFeature]:
        if not rows:
            return []
        queries = self.tokenizer([row.get("query", row.get("question")) for row in rows], **OFFSETS_ONLY)
        contexts = self.tokenizer([row["context"] for row in rows], **OFFSETS_ONLY)
        features = []
        for n, row in enumerate(rows):
            features += self._windows(row, queries["input_ids"][n], contexts["input_ids"][n],
                                      trim_offsets(row["context"], contexts["offset_mapping"][n]))
        return features

    def _windows(self, row: dict, query_ids: list[int], context_ids: list[int],
                 offsets: list[tuple[int, int]]) -> list[QAFeature]:
        config, cls, sep = self.config, self.tokenizer.cls_token_id, self.tokenizer.sep_token_id
        query = query_ids[:config.max_query_length]
        prefix = [cls, *query] + ([self.que_id] if self.que_id is not None else []) + [sep]
        if config.double_separator:
            prefix.append(sep)
        context_start = len(prefix)
        que_position = 1 + len(query) if self.que_id is not None else None

        # Answers as inclusive context-token spans; the first is the start/end target.
        answer_tokens = []
        for answer in row["answers"]:
            tokens = char_span_to_tokens(offsets, answer["start"], answer["end"])
            if tokens is None:
                self.stats.answers_unmappable += 1
            answer_tokens.append(tokens)
        self.stats.examples += 1
        self.stats.answers += len(answer_tokens)
        self.stats.queries_truncated += len(query_ids) > len(query)

        starts = window_starts(len(context_ids), self.room, config.doc_stride)
        self.stats.examples_split += len(starts) > 1
        placed = [False] * len(answer_tokens)
        features = []
        for window, first in enumerate(starts):
            last = min(first + self.room, len(context_ids))  # one past
            input_ids = prefix + context_ids[first:last] + [sep]
            spans = []
            for n, tokens in enumerate(answer_tokens):
                if tokens is not None and first <= tokens[0] and tokens[1] < last:
                    spans.append((context_start + tokens[0] - first, context_start + tokens[1] - first))
                    placed[n] = True
            target = (0, 0)
            if answer_tokens and answer_tokens[0] is not None:
                head = answer_tokens[0]
                if first <= head[0] and head[1] < last:
                    target = (context_start + head[0] - first, context_start + head[1] - first)
            token_type_ids = None
            if self.with_token_types:
                token_type_ids = [0] * context_start + [1] * (last - first + 1)
            features.append(QAFeature(
                example_id=row.get("id", ""), window=window, input_ids=input_ids, token_type_ids=token_type_ids,
                context_start=context_start, context_end=context_start + last - first, context_token_start=first,
                context_offsets=offsets[first:last], que_position=que_position, start_position=target[0],
                end_position=target[1], answer_spans=sorted(set(spans))))
            self.stats.windows += 1
            self.stats.windows_with_answer += target != (0, 0)
        self.stats.answers_in_no_window += sum(
            1 for tokens, ok in zip(answer_tokens, placed) if tokens is not None and not ok)
        return features


def collate_qa(features: Sequence[QAFeature], pad_token_id: int, pad_to_multiple_of: int | None = None,
               max_length: int | None = None) -> dict:
    """Pad windows to the longest (rounded up to ``pad_to_multiple_of``, never past ``max_length``).

    Keys: ``input_ids``, ``attention_mask``, (``token_type_ids``), ``context_start``, ``context_end``,
    ``start_positions``, ``end_positions``, ``answer_spans`` (``[K, 3]`` rows of window, start, end: the
    extractor's labels), ``que_positions`` (the [QUE] position, 0 where a layout has none), and the
    non-tensor ``example_ids`` / ``windows``."""
    batch = padded_span_batch(features, pad_token_id, pad_to_multiple_of, max_length)
    batch["start_positions"] = torch.tensor([f.start_position for f in features], dtype=INDEX_DTYPE)
    batch["end_positions"] = torch.tensor([f.end_position for f in features], dtype=INDEX_DTYPE)
    batch["que_positions"] = torch.tensor([f.que_position or 0 for f in features], dtype=INDEX_DTYPE)
    batch["windows"] = [f.window for f in features]
    return batch


class QACollator:
    """``collate_fn`` over QA rows (dicts or ``QAExample``s): every window of every row, padded. A batch of
    ``n`` rows holds ``n`` or more windows."""

    def __init__(self, tokenizer, config: QAFeatureConfig | None = None, pad_to_multiple_of: int | None = 8):
        self.featurizer = QAFeaturizer(tokenizer, config)
        self.pad_token_id = pad_id(tokenizer)
        self.pad_to_multiple_of = pad_to_multiple_of

    def __call__(self, rows: Sequence[dict | QAExample]) -> dict:
        rows = [row.as_row() if isinstance(row, QAExample) else row for row in rows]
        return collate_qa(self.featurizer(rows), self.pad_token_id, self.pad_to_multiple_of,
                          max_length=self.featurizer.config.max_length)


def feature_batches(features: Sequence[QAFeature], batch_size: int, pad_token_id: int,
                    pad_to_multiple_of: int | None = 8) -> Iterator[tuple[list[QAFeature], dict]]:
    """Evaluation batches over already featurised windows, with the windows each batch holds."""
    for start in range(0, len(features), batch_size):
        chunk = list(features[start:start + batch_size])
        yield chunk, collate_qa(chunk, pad_token_id, pad_to_multiple_of)
