"""Sentence-pair batches (PAWS-X, XNLI rows of ``trainer.data.pair_tsv``): the classifier's
``[CLS] s1 [SEP] s2 [SEP]`` inputs, and mPMR's MRC form.

MRC form (paper 001 Table 6): each label becomes a query - the label and its description - over the context
"Hypothesis: ... Premise: ..."; the extractor must mark the ``[CLS]`` cell (S_00) for the true label's query
and nothing for the others. The prediction is the label whose query scores the highest S_00.
"""
from __future__ import annotations

from typing import Sequence

import torch

from trainer.data.mrc_features import INDEX_DTYPE, MRCFeatureConfig, MRCFeaturizer, collate_mrc, pad_id

# ---------------------------------------------------------------------------------------------------------
# Classifier inputs


def truncate_longest_first(first: list[int], second: list[int], room: int) -> tuple[list[int], list[int]]:
    """Drop tokens from the end of the longer side until both fit in ``room`` (ties cut the second)."""
    first, second = list(first), list(second)
    while len(first) + len(second) > room:
        if len(first) > len(second):
            first.pop()
        else:
            second.pop()
    return first, second


class PairCollator:
    """``collate_fn`` over pair rows: ``[CLS] s1 [SEP] s2 [SEP]`` (``[SEP] [SEP]`` between the two with
    ``double_separator``, the XLM-R template), cut longest-first to ``max_length`` (paper 001 Table 5: 192),
    padded; ``labels`` are indices into ``labels``. The special tokens are placed here, not by the
    tokenizer's post-processor (which a tokenizer trained on the fly may lack)."""

    def __init__(self, tokenizer, labels: Sequence[str], max_length: int = 192, double_separator: bool = False):
        if tokenizer.cls_token_id is None or tokenizer.sep_token_id is None:
            raise ValueError("the tokenizer needs a cls and a sep token")
        self.tokenizer, self.labels, self.max_length = tokenizer, list(labels), max_length
        self.double_separator = double_separator
        self.label_ids = {label: n for n, label in enumerate(self.labels)}
        self.with_token_types = "token_type_ids" in tokenizer.model_input_names
        self.pad_token_id = pad_id(tokenizer)
        self.truncated = 0  # pairs cut to fit (counted, DESIGN.md)

    def __call__(self, rows: Sequence[dict]) -> dict:
        encode = dict(add_special_tokens=False, return_attention_mask=False, return_token_type_ids=False,
                      verbose=False)
        firsts = self.tokenizer([r["sentence1"] for r in rows], **encode)["input_ids"]
        seconds = self.tokenizer([r["sentence2"] for r in rows], **encode)["input_ids"]
        cls, sep = self.tokenizer.cls_token_id, self.tokenizer.sep_token_id
        middle = [sep, sep] if self.double_separator else [sep]
        room = self.max_length - 2 - len(middle)
        sequences, types = [], []
        for first, second in zip(firsts, seconds):
            self.truncated += len(first) + len(second) > room
            first, second = truncate_longest_first(first, second, room)
            sequences.append([cls, *first, *middle, *second, sep])
            types.append([0] * (2 + len(first) + len(middle) - 1) + [1] * (len(second) + 1))
        length = max(len(ids) for ids in sequences)
        input_ids = torch.full((len(rows), length), self.pad_token_id, dtype=INDEX_DTYPE)
        attention_mask = torch.zeros((len(rows), length), dtype=INDEX_DTYPE)
        token_type_ids = torch.zeros((len(rows), length), dtype=INDEX_DTYPE)
        for n, (ids, segment) in enumerate(zip(sequences, types)):
            input_ids[n, :len(ids)] = torch.tensor(ids, dtype=INDEX_DTYPE)
            attention_mask[n, :len(ids)] = 1
            token_type_ids[n, :len(ids)] = torch.tensor(segment, dtype=INDEX_DTYPE)
        batch = {"input_ids": input_ids, "attention_mask": attention_mask}
        if self.with_token_types:
            batch["token_type_ids"] = token_type_ids
        if all("label" in r for r in rows):
            batch["labels"] = torch.tensor([self.label_ids[r["label"]] for r in rows], dtype=INDEX_DTYPE)
        batch["pair_ids"] = [r.get("id", "") for r in rows]
        return batch


# ---------------------------------------------------------------------------------------------------------
# MRC form (paper 001 Table 6)

# Queries: the label and its description. PAWS-X's two come from Table 6 (0 is the contradiction query, 1
# the entailment one); XNLI's neutral description is ours (Table 6 shows only the other two).
PAIR_QUERIES = {
    "pawsx": {
        "0": "Contradiction. The hypothesis is a sentence with a contradictory meaning to the premise.",
        "1": "Entailment. The hypothesis is a sentence with a similar meaning as the premise.",
    },
    "xnli": {
        "contradiction": "Contradiction. The hypothesis is a sentence with a contradictory meaning to the "
                         "premise.",
        "entailment": "Entailment. The hypothesis is a sentence with a similar meaning as the premise.",
        "neutral": "Neutral. The hypothesis is a sentence whose meaning the premise neither implies nor "
                   "contradicts.",
    },
}
# Which sentence is the hypothesis: XNLI's sentence2; PAWS-X's sentence1, as in Table 6's example.
_HYPOTHESIS_FIELD = {"pawsx": "sentence1", "xnli": "sentence2"}


def pair_mrc_rows(row: dict, task: str) -> list[dict]:
    """One MRC row per label (``id`` = ``<pair id>/<label>``), ``relevant`` for the gold label."""
    queries = PAIR_QUERIES[task]
    hypothesis_field = _HYPOTHESIS_FIELD[task]
    premise_field = "sentence2" if hypothesis_field == "sentence1" else "sentence1"
    context = f"Hypothesis: {row[hypothesis_field]} Premise: {row[premise_field]}"
    return [{"id": f"{row['id']}/{label}", "pair_id": row["id"], "query_label": label, "lang": row["lang"],
             "query": query, "context": context, "answers": [], "relevant": row.get("label") == label}
            for label, query in queries.items()]


class PairMRCCollator:
    """``collate_fn`` over pair rows for the extractor (``qa_heads.ExtractorQA``): every pair becomes one
    MRC example per label; the gold label's example is labelled at its [CLS] cell only (an ``(n, 0, 0)``
    row of ``answer_spans``). ``query_labels`` and ``pair_ids`` travel along for ``pair_mrc_predictions``."""

    def __init__(self, tokenizer, task: str, config: MRCFeatureConfig | None = None,
                 pad_to_multiple_of: int | None = 8):
        if task not in PAIR_QUERIES:
            raise ValueError(f"unknown pair task {task!r}; known: {', '.join(PAIR_QUERIES)}")
        self.task = task
        self.featurizer = MRCFeaturizer(tokenizer, config or MRCFeatureConfig(max_length=192, max_query_length=64))
        self.pad_token_id = pad_id(tokenizer)
        self.pad_to_multiple_of = pad_to_multiple_of

    def __call__(self, rows: Sequence[dict]) -> dict:
        mrc_rows = [mrc for row in rows for mrc in pair_mrc_rows(row, self.task)]
        features = self.featurizer(mrc_rows)
        for feature, mrc in zip(features, mrc_rows):
            feature.answer_spans = [(0, 0)] if mrc["relevant"] else []
        batch = collate_mrc(features, self.pad_token_id, self.pad_to_multiple_of,
                            max_length=self.featurizer.config.max_length)
        batch["query_labels"] = [mrc["query_label"] for mrc in mrc_rows]
        batch["pair_ids"] = [mrc["pair_id"] for mrc in mrc_rows]
        return batch


