"""CLISM rows (paper 000 §3.1) as model inputs: the ``[QUE]`` pair, its answers, and CACR's unmasked view.

A row holds ``masked_source`` (every selected source span replaced by the row's ``que_token``), ``source``,
``target`` and, for every ``[QUE]`` in order, its answer as character offsets into ``target``. It becomes

- the pair ``[CLS] masked_source [SEP] target [SEP]`` (paper 000 §3.2, X). The tokenizer's own pair template
  is used when its post-processor adds special tokens (``<s> A </s></s> B </s>`` for XLM-R, BERT's template
  for BERT); a tokenizer without one gets ``[CLS] A [SEP] B [SEP]`` (``[CLS] A [SEP] [SEP] B [SEP]`` with
  ``double_separator``). Each sentence keeps at most ``max_sentence_tokens`` tokens (128, paper 000 §4.2);
- the position of every ``[QUE]`` and the inclusive token span of its answer in the target part, mapped from
  characters with the fast tokenizer's offsets;
- ``[CLS] source [SEP]``: the unmasked source, CACR's third view (eq. 8), truncated the same way.

Nothing is lost silently: a question whose ``[QUE]`` was truncated away, whose answer was cut off with the
target, or whose answer covers no token is left out of the CLISM loss and counted under that reason
(``ClismFeatureStats``); the row itself stays in the batch for CACR and MLM. ``ClismCollator`` pads a batch
dynamically and applies MLM masking (trainer/data/mlm_masking.py) to the pair, never to specials, ``[QUE]``,
answer tokens (paper 000 footnote 4) or padding.

Sequence roles travel as ``sequence_ids``: 0 for the (masked) source, 1 for the target, -1 for special
tokens and padding. The model pools and picks answer candidates from them.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Sequence

import torch
from tokenizers import AddedToken

from trainer.data.mlm_masking import IGNORE_INDEX, MaskingConfig, mask_tokens, row_generator
from trainer.data.mrc_features import INDEX_DTYPE, char_span_to_tokens, pad_id
from trainer.data.shards import EPOCH_FIELD

SOURCE, TARGET, SPECIAL = 0, 1, -1  # values of sequence_ids


def add_que_token(tokenizer, model=None, que_token: str = "[QUE]") -> int:
    """Add ``que_token`` to the tokenizer as a special token (once) and return its id.

    Given a model (a ``PreTrainedModel``, or a module with one as ``encoder``), its input embeddings grow to
    the tokenizer's size; transformers initialises the new rows from the mean of the old ones."""
    if que_token not in tokenizer.get_vocab():
        # normalized=False: a lower-casing normaliser must not turn "[QUE]" into "[que]" before matching;
        # lstrip, like XLM-R's <mask>: the space before it joins the token instead of becoming a lone "▁".
        token = AddedToken(que_token, special=True, normalized=False, lstrip=True)
        tokenizer.add_special_tokens({"extra_special_tokens": [token]}, replace_extra_special_tokens=False)
    que_id = tokenizer.convert_tokens_to_ids(que_token)
    if model is not None:
        encoder = getattr(model, "encoder", model)
        if encoder.get_input_embeddings().num_embeddings < len(tokenizer):
            encoder.resize_token_embeddings(len(tokenizer))
    return que_id


@dataclass
class ClismFeatureConfig:
    # Paper 000 §4.2: "the max length of each sentence is set to 128" (256 in all).
    max_sentence_tokens: int = 128
    que_token: str = "[QUE]"
    # Only for tokenizers whose post-processor adds no special tokens: `[CLS] A [SEP] [SEP] B [SEP]`.
    double_separator: bool = False
    pad_to_multiple_of: int | None = 8
    masking: MaskingConfig = field(default_factory=MaskingConfig)


@dataclass
class ClismFeature:
    """One tokenised CLISM row. Positions index ``input_ids``; answer spans are inclusive."""

    example_id: str
    input_ids: list[int]
    token_type_ids: list[int] | None
    sequence_ids: list[int]  # SOURCE, TARGET or SPECIAL per position
    source_input_ids: list[int]  # [CLS] source [SEP]
    source_sequence_ids: list[int]
    questions: list[tuple[int, int, int]]  # (que position, answer start, answer end) of the kept questions
    answer_positions: list[int]  # every target position inside an answer (kept out of MLM masking)
    total_questions: int
    que_truncated: int  # questions whose [QUE] was cut from the masked source
    answer_truncated: int  # questions whose answer was cut (wholly or partly) from the target
    answer_unmappable: int  # questions whose answer covers no token (e.g. whitespace only)
    source_truncated: bool
    target_truncated: bool
    unmasked_source_truncated: bool
    epoch: int = 0  # the epoch the row was read in (``EPOCH_FIELD``): each epoch draws other MLM masks


@dataclass
class ClismFeatureStats:
    """Counts over featurised rows (DESIGN.md: nothing silently lost)."""

    examples: int = 0
    questions: int = 0
    questions_kept: int = 0
    questions_que_truncated: int = 0
    questions_answer_truncated: int = 0
    questions_answer_unmappable: int = 0
    examples_without_questions: int = 0  # rows that lost every question (still used by CACR and MLM)
    sources_truncated: int = 0
    targets_truncated: int = 0
    unmasked_sources_truncated: int = 0

    def add(self, feature: ClismFeature) -> None:
        self.examples += 1
        self.questions += feature.total_questions
        self.questions_kept += len(feature.questions)
        self.questions_que_truncated += feature.que_truncated
        self.questions_answer_truncated += feature.answer_truncated
        self.questions_answer_unmappable += feature.answer_unmappable
        self.examples_without_questions += int(not feature.questions)
        self.sources_truncated += int(feature.source_truncated)
        self.targets_truncated += int(feature.target_truncated)
        self.unmasked_sources_truncated += int(feature.unmasked_source_truncated)

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


class ClismFeaturizer:
    """Turns CLISM rows into ``ClismFeature``s; ``stats`` accumulates counts over every call.

    Needs a transformers fast tokenizer (offsets) to which ``add_que_token`` has added the config's token."""

    def __init__(self, tokenizer, config: ClismFeatureConfig | None = None):
        self.tokenizer = tokenizer
        self.config = config or ClismFeatureConfig()
        if not getattr(tokenizer, "is_fast", False):
            raise ValueError(f"CLISM features need a fast tokenizer (offset mappings); got {type(tokenizer).__name__}")
        if self.config.max_sentence_tokens < 1:
            raise ValueError(f"max_sentence_tokens must be >= 1, got {self.config.max_sentence_tokens}")
        if self.config.que_token not in tokenizer.get_vocab():
            raise ValueError(f"the tokenizer has no {self.config.que_token!r} token: call "
                             "trainer.data.clism_features.add_que_token(tokenizer, model) first")
        self.que_token_id = tokenizer.convert_tokens_to_ids(self.config.que_token)
        processor = tokenizer.backend_tokenizer.post_processor
        # The tokenizer's own template when it has one; the fallback needs cls and sep tokens.
        self.processor = processor if processor is not None and processor.num_special_tokens_to_add(True) else None
        if self.processor is None and (tokenizer.cls_token_id is None or tokenizer.sep_token_id is None):
            raise ValueError("the tokenizer has no pair template and no cls/sep tokens to build one")
        self.with_token_types = "token_type_ids" in tokenizer.model_input_names
        self.stats = ClismFeatureStats()

    @property
    def max_pair_length(self) -> int:
        if self.processor is not None:
            specials = self.processor.num_special_tokens_to_add(True)
        else:
            specials = 4 if self.config.double_separator else 3
        return 2 * self.config.max_sentence_tokens + specials

    def __call__(self, rows: Sequence[dict]) -> list[ClismFeature]:
        if not rows:
            return []
        que = self.config.que_token
        masked = [row["masked_source"].replace(row["que_token"], que) if row["que_token"] != que
                  else row["masked_source"] for row in rows]

        def encode(texts: list[str]):
            return self.tokenizer(texts, add_special_tokens=False, verbose=False).encodings

        features = [self._feature(row, *encodings) for row, *encodings in
                    zip(rows, encode(masked), encode([row["target"] for row in rows]),
                        encode([row["source"] for row in rows]))]
        for feature in features:
            self.stats.add(feature)
        return features

    def _with_specials(self, first, second=None) -> tuple[list[int], list[int], list[int]]:
        """``(ids, token type ids, sequence ids)`` of one or two truncated encodings with special tokens."""
        if self.processor is not None:
            encoding = self.tokenizer.backend_tokenizer.post_process(first, second, add_special_tokens=True)
            # Roles from the template's special-token mask, not ``encoding.sequence_ids``: a
            # TemplateProcessing post-processor (mBERT's tokenizer.json) leaves the first sequence's ids None.
            # Every template keeps $A before $B, so the first len(first) content positions are the source.
            sequence_ids, content = [], 0
            for special in encoding.special_tokens_mask:
                if special:
                    sequence_ids.append(SPECIAL)
                else:
                    sequence_ids.append(SOURCE if content < len(first.ids) else TARGET)
                    content += 1
            return encoding.ids, encoding.type_ids, sequence_ids
        cls, sep = self.tokenizer.cls_token_id, self.tokenizer.sep_token_id
        ids, sequence_ids = [cls, *first.ids], [SPECIAL] + [SOURCE] * len(first.ids)
        if second is not None:
            between = [sep, sep] if self.config.double_separator else [sep]
            ids += [*between, *second.ids]
            sequence_ids += [SPECIAL] * len(between) + [TARGET] * len(second.ids)
        ids.append(sep)
        sequence_ids.append(SPECIAL)
        # BERT's segments: the first sentence with its [CLS] and [SEP](s), then the second with its [SEP].
        first_segment = sequence_ids.index(TARGET) if second is not None and second.ids else len(ids)
        return ids, [0] * first_segment + [1] * (len(ids) - first_segment), sequence_ids

    def _feature(self, row: dict, masked, target, source) -> ClismFeature:
        limit, example_id = self.config.max_sentence_tokens, row.get("id", "")
        que_tokens = [k for k, token_id in enumerate(masked.ids) if token_id == self.que_token_id]
        answers = row["answers"]
        if len(que_tokens) != len(answers):
            raise ValueError(f"CLISM row {example_id!r}: {len(que_tokens)} {self.config.que_token} tokens in "
                             f"masked_source but {len(answers)} answers")
        target_offsets = list(target.offsets)  # of the whole target, before truncation
        lengths = len(masked.ids), len(target.ids), len(source.ids)
        for encoding in (masked, target, source):
            encoding.truncate(limit)
        kept_source, kept_target = len(masked.ids), len(target.ids)

        input_ids, token_type_ids, sequence_ids = self._with_specials(masked, target)
        source_start = sequence_ids.index(SOURCE) if kept_source else 0
        target_start = sequence_ids.index(TARGET) if kept_target else 0
        questions, answer_positions = [], set()
        que_truncated = answer_truncated = answer_unmappable = 0
        for que_index, answer in zip(que_tokens, answers):
            span = char_span_to_tokens(target_offsets, answer["start"], answer["end"])
            if span is not None and span[0] < kept_target:  # what is left of an answer stays unmasked
                answer_positions.update(range(target_start + span[0], target_start + min(span[1], kept_target - 1) + 1))
            if que_index >= kept_source:
                que_truncated += 1
            elif span is None:
                answer_unmappable += 1
            elif span[1] >= kept_target:
                answer_truncated += 1
            else:
                questions.append((source_start + que_index, target_start + span[0], target_start + span[1]))

        source_input_ids, _, source_sequence_ids = self._with_specials(source)
        return ClismFeature(
            example_id=example_id, input_ids=input_ids,
            token_type_ids=token_type_ids if self.with_token_types else None, sequence_ids=sequence_ids,
            source_input_ids=source_input_ids, source_sequence_ids=source_sequence_ids, questions=questions,
            answer_positions=sorted(answer_positions), total_questions=len(answers), que_truncated=que_truncated,
            answer_truncated=answer_truncated, answer_unmappable=answer_unmappable,
            source_truncated=lengths[0] > limit, target_truncated=lengths[1] > limit,
            unmasked_source_truncated=lengths[2] > limit, epoch=int(row.get(EPOCH_FIELD, 0)))


def _padded_length(lengths: Sequence[int], multiple: int | None, cap: int) -> int:
    length = max(lengths)
    if multiple:
        length = max(length, min(-(-length // multiple) * multiple, cap))
    return length


def _pad(rows: Sequence[Sequence[int]], length: int, value: int) -> torch.Tensor:
    out = torch.full((len(rows), length), value, dtype=INDEX_DTYPE)
    for n, row in enumerate(rows):
        out[n, :len(row)] = torch.as_tensor(row, dtype=INDEX_DTYPE)
    return out


class ClismCollator:
    """``collate_fn`` over CLISM rows: featurise, MLM-mask each row with a generator seeded by
    ``(seed, row id)``, pad dynamically. Picklable (DataLoader workers get a copy).

    Batch keys: ``input_ids`` (MLM-corrupted pair), ``attention_mask``, ``token_type_ids`` (models that take
    them), ``sequence_ids``, ``mlm_labels`` (-100 where not selected); ``que_positions``, ``answer_starts``,
    ``answer_ends``, ``question_mask`` (``[B, Q]``, Q >= 1 the most kept questions of a row);
    ``source_input_ids``, ``source_attention_mask``, ``source_sequence_ids`` (and ``source_token_type_ids``);
    ``example_ids`` and ``feature_stats`` (this batch's ``ClismFeatureStats`` as a dict, for the loop's log)."""

    def __init__(self, tokenizer, config: ClismFeatureConfig | None = None, seed: int = 0):
        self.featurizer = ClismFeaturizer(tokenizer, config)
        self.config = self.featurizer.config
        self.seed = seed
        self.pad_token_id = pad_id(tokenizer)
        self.mask_token_id = tokenizer.mask_token_id
        if self.mask_token_id is None and self.config.masking.probability > 0:
            raise ValueError("MLM masking needs a tokenizer with a mask token")
        # Never predicted, never a random replacement: special tokens, added specials ([QUE]) included.
        special = set(tokenizer.all_special_ids) | {self.featurizer.que_token_id}
        special |= {index for index, token in tokenizer.added_tokens_decoder.items() if token.special}
        self.special_ids = torch.tensor(sorted(special), dtype=INDEX_DTYPE)
        self.replacement_ids = torch.tensor([i for i in range(len(tokenizer)) if i not in special],
                                            dtype=INDEX_DTYPE)

    def mask(self, feature: ClismFeature) -> tuple[torch.Tensor, torch.Tensor]:
        """The MLM-corrupted pair ids and labels of one feature."""
        if not feature.example_id:
            raise ValueError("CLISM rows need an id: it seeds their MLM masks")
        ids = torch.tensor(feature.input_ids, dtype=INDEX_DTYPE)
        if self.config.masking.probability == 0:
            return ids, torch.full_like(ids, IGNORE_INDEX)
        maskable = torch.tensor(feature.sequence_ids) != SPECIAL
        maskable &= ~torch.isin(ids, self.special_ids)
        maskable[feature.answer_positions] = False
        # Epoch 0 keeps the plain row id as its key, so a single pass masks as it always has.
        key = feature.example_id if feature.epoch == 0 else f"{feature.example_id}\x1fepoch {feature.epoch}"
        return mask_tokens(ids, maskable, self.mask_token_id, self.replacement_ids, self.config.masking,
                           row_generator(self.seed, key))

    def __call__(self, rows: Sequence[dict]) -> dict:
        features = self.featurizer(rows)
        if not features:
            raise ValueError("cannot collate an empty batch")
        stats = ClismFeatureStats()
        for feature in features:
            stats.add(feature)
        multiple = self.config.pad_to_multiple_of
        length = _padded_length([len(f.input_ids) for f in features], multiple, self.featurizer.max_pair_length)
        masked = [self.mask(feature) for feature in features]
        batch = {
            "input_ids": _pad([ids for ids, _ in masked], length, self.pad_token_id),
            "attention_mask": _pad([[1] * len(f.input_ids) for f in features], length, 0),
            "sequence_ids": _pad([f.sequence_ids for f in features], length, SPECIAL),
            "mlm_labels": _pad([labels for _, labels in masked], length, IGNORE_INDEX),
        }
        if self.featurizer.with_token_types:
            batch["token_type_ids"] = _pad([f.token_type_ids for f in features], length, 0)

        questions = max(1, max(len(f.questions) for f in features))
        for key, part in (("que_positions", 0), ("answer_starts", 1), ("answer_ends", 2)):
            batch[key] = _pad([[q[part] for q in f.questions] for f in features], questions, 0)
        batch["question_mask"] = _pad([[1] * len(f.questions) for f in features], questions, 0).bool()

        source_length = _padded_length([len(f.source_input_ids) for f in features], multiple,
                                       self.featurizer.max_pair_length)
        batch["source_input_ids"] = _pad([f.source_input_ids for f in features], source_length, self.pad_token_id)
        batch["source_attention_mask"] = _pad([[1] * len(f.source_input_ids) for f in features], source_length, 0)
        batch["source_sequence_ids"] = _pad([f.source_sequence_ids for f in features], source_length, SPECIAL)
        if self.featurizer.with_token_types:
            batch["source_token_type_ids"] = torch.zeros_like(batch["source_input_ids"])
        batch["example_ids"] = [f.example_id for f in features]
        batch["feature_stats"] = stats.as_dict()
        return batch
