"""Sentence-pair classification (PAWS-X, XNLI): TSV readers, a classifier head, and mPMR's MRC form.

Readers take the released TSV layouts: PAWS-X ``id, sentence1, sentence2, label`` (labels 0/1), XNLI-1.0's
``xnli.{dev,test}.tsv`` (``language``, ``gold_label``, ``sentence1``, ``sentence2``, ``pairID`` among other
columns), XNLI-MT's ``premise, hypo, label`` (``contradictory`` for contradiction), and the headerless
files XTREME writes (``sentence1, sentence2, label``, or with a leading id). Quotes are ordinary characters
(the texts contain unbalanced ones). A line with the wrong number of fields or an unknown label is an error
naming the file and line; a pair with an empty sentence (PAWS-X's translated sets have some) is skipped and
counted.

MRC form (paper 001 Table 6): each label becomes a query - the label and its description - over the context
"Hypothesis: ... Premise: ..."; the extractor must mark the ``[CLS]`` cell (S_00) for the true label's query
and nothing for the others. The prediction is the label whose query scores the highest S_00.
"""
from __future__ import annotations

import csv
import os
from dataclasses import dataclass, fields
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel

from trainer.mrc_features import INDEX_DTYPE, MRCFeatureConfig, MRCFeaturizer, collate_mrc

PAWSX_LABELS = ("0", "1")  # 0: not a paraphrase, 1: paraphrase
XNLI_LABELS = ("entailment", "neutral", "contradiction")
TASK_LABELS = {"pawsx": PAWSX_LABELS, "xnli": XNLI_LABELS}
_LABEL_ALIASES = {"contradictory": "contradiction"}  # XNLI-MT's spelling

# Header names of each field in the released files.
_COLUMNS = {
    "sentence1": ("sentence1", "premise"),
    "sentence2": ("sentence2", "hypo", "hypothesis"),
    "label": ("label", "gold_label"),
    "id": ("id", "pairid"),
    "language": ("language", "lang"),
}


class PairDataError(ValueError):
    """Malformed pair-classification input; the message names the file and line."""


@dataclass
class PairReadStats:
    pairs: int = 0
    skipped_empty: int = 0

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def read_pair_tsv(path: str | os.PathLike, task: str, lang: str | None = None,
                  stats: PairReadStats | None = None) -> list[dict]:
    """Rows ``{"id", "lang", "sentence1", "sentence2", "label"}`` of a PAWS-X or XNLI TSV file; ``lang``
    comes from the file's ``language`` column when it has one."""
    if task not in TASK_LABELS:
        raise ValueError(f"unknown pair task {task!r}; known: {', '.join(TASK_LABELS)}")
    labels = TASK_LABELS[task]
    stats = stats if stats is not None else PairReadStats()
    where = os.fspath(path)
    with open(path, encoding="utf-8", newline="") as handle:
        lines = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        try:
            first = next(lines)
        except StopIteration:
            raise PairDataError(f"{where}: empty file") from None
        except UnicodeDecodeError as err:
            raise PairDataError(f"{where}:1: not valid UTF-8 ({err.reason})") from None
        columns = _header_columns(first)
        if columns is None:  # headerless (XTREME's layout)
            width = len(first)
            if width == 3:
                columns = {"sentence1": 0, "sentence2": 1, "label": 2}
            elif width == 4:
                columns = {"id": 0, "sentence1": 1, "sentence2": 2, "label": 3}
            else:
                raise PairDataError(f"{where}:1: no header and {width} fields; expected 3 (sentence1, "
                                    "sentence2, label) or 4 (id, sentence1, sentence2, label)")
            pending = [(1, first)]
        else:
            width = len(first)
            pending = []
        rows = []
        number = 1
        try:
            for number, fields_ in [*pending, *((n, f) for n, f in enumerate(lines, start=2))]:
                if not fields_ or fields_ == [""]:
                    continue
                if len(fields_) != width:
                    raise PairDataError(f"{where}:{number}: {len(fields_)} fields, expected {width}")
                label = fields_[columns["label"]].strip()
                label = _LABEL_ALIASES.get(label, label)
                if label not in labels:
                    raise PairDataError(f"{where}:{number}: label {label!r} is not one of {', '.join(labels)}")
                sentence1, sentence2 = fields_[columns["sentence1"]].strip(), fields_[columns["sentence2"]].strip()
                if not sentence1 or not sentence2:
                    stats.skipped_empty += 1
                    continue
                row_lang = fields_[columns["language"]] if "language" in columns else lang
                if not row_lang:
                    raise PairDataError(f"{where}:{number}: no language column; pass lang")
                pair_id = fields_[columns["id"]] if "id" in columns else f"{os.path.basename(where)}:{number}"
                rows.append({"id": f"{row_lang}-{pair_id}", "lang": row_lang, "sentence1": sentence1,
                             "sentence2": sentence2, "label": label})
                stats.pairs += 1
        except UnicodeDecodeError as err:
            raise PairDataError(f"{where}: after line {number}: not valid UTF-8 ({err.reason})") from None
    return rows


def _header_columns(first: list[str]) -> dict[str, int] | None:
    names = [name.strip().lower() for name in first]
    columns = {}
    for field_name, aliases in _COLUMNS.items():
        for alias in aliases:
            if alias in names:
                columns[field_name] = names.index(alias)
                break
    if {"sentence1", "sentence2", "label"} <= set(columns):
        return columns
    return None


# ---------------------------------------------------------------------------------------------------------
# Classifier

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
        self.pad_token_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
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


class PairClassifier(nn.Module):
    """A classification head on the first token (dropout, dense + tanh, dropout, linear)."""

    def __init__(self, encoder: PreTrainedModel, num_labels: int, dropout: float | None = None):
        super().__init__()
        self.encoder = encoder
        hidden = encoder.config.hidden_size
        if dropout is None:
            dropout = getattr(encoder.config, "hidden_dropout_prob", 0.1)
        self.dropout = nn.Dropout(dropout)
        self.dense = nn.Linear(hidden, hidden)
        self.out_proj = nn.Linear(hidden, num_labels)
        for layer in (self.dense, self.out_proj):
            nn.init.normal_(layer.weight, std=getattr(encoder.config, "initializer_range", 0.02))
            nn.init.zeros_(layer.bias)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None, labels: torch.Tensor | None = None,
                **_extras) -> dict:
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            inputs["token_type_ids"] = token_type_ids
        first = self.encoder(**inputs).last_hidden_state[:, 0]
        logits = self.out_proj(self.dropout(torch.tanh(self.dense(self.dropout(first)))))
        output = {"logits": logits}
        if labels is not None:
            output["loss"] = F.cross_entropy(logits.float(), labels.to(logits.device))
        return output


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
        self.pad_token_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
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


def pair_mrc_predictions(scores: torch.Tensor, batch: dict) -> dict[str, str]:
    """Pair id -> the label whose query has the highest relevance S_00."""
    relevance = scores[:, 0, 0].detach().float().cpu().tolist()
    best: dict[str, tuple[float, str]] = {}
    for pair_id, label, score in zip(batch["pair_ids"], batch["query_labels"], relevance):
        if pair_id not in best or score > best[pair_id][0]:
            best[pair_id] = (score, label)
    return {pair_id: label for pair_id, (_, label) in best.items()}
