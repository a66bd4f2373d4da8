"""The downstream tasks of ``trainer.finetune`` / ``trainer.evaluate``: one ``TaskSpec`` says what is read,
which head is trained on which batches, and how predictions are scored - assembled from the building blocks
(trainer/qa_*.py, tagging.py, pair_tasks.py, metrics.py).

| task | head | model | batches | scored with |
|---|---|---|---|---|
| qa | start_end | ``StartEndQA`` | sliding windows (``QAFeaturizer``) | SQuAD EM/F1 (en), MLQA's otherwise |
| qa | extractor | ``ExtractorQA`` (mPMR) | windows, WAE labels | same; null score S_00 per window |
| qa | que | ``QueQA`` (CLISM eq. 10) | ``[CLS] Q [QUE] [SEP] P [SEP]`` windows | same |
| ner | tagging | ``TokenTagger`` | first-subword labels in BIOES/BIO | entity F1 (CoNLL) |
| ner | mrc | ``ExtractorQA`` | one query per entity type (paper 001 Table 6) | entity F1, spans with S_ij > 0 |
| pair | classifier | ``PairClassifier`` | ``[CLS] s1 [SEP] s2 [SEP]`` | accuracy |
| pair | mrc | ``ExtractorQA`` | one query per label, S_00 relevance | accuracy |

A ``TaskSpec`` is plain JSON-able data: the fine-tuning run stores it in every checkpoint
(``trainer_state.json`` -> ``run.task``), so ``trainer.evaluate`` rebuilds the same head, labels and decoding
from a checkpoint directory alone.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch
from torch import nn

from schemas.tags import parse_tag, spans_from_tags
from trainer.metrics import accuracy, entity_scores, span_scores
from trainer.mrc_features import MRCCollator, MRCFeatureConfig, MRCFeaturizer, collate_mrc
from trainer.pair_tasks import TASK_LABELS, PairClassifier, PairCollator, PairMRCCollator, pair_mrc_predictions
from trainer.qa_data import QAExample, QAFeatureConfig, QAFeaturizer, collate_qa
from trainer.qa_decoding import evaluate_qa
from trainer.qa_heads import ExtractorQA, QueQA, StartEndQA
from trainer.span_extractor import SpanExtractorConfig
from trainer.tagging import (TaggingCollator, TokenTagger, decode_ner_mrc, entity_types, label_list, ner_mrc_rows,
                             predict_tags)
from trainer.task_data import DataSource, read_pair_rows, read_qa, read_sentences

TASK_METRICS = {"qa": ["exact_match", "f1"], "ner": ["precision", "recall", "f1"], "pair": ["accuracy"]}
PRIMARY_METRIC = {"qa": "f1", "ner": "f1", "pair": "accuracy"}


class QAWindowCollate:
    """Pads already featurised QA windows (training on windows, BERT's run_squad convention: every batch holds
    exactly ``batch_size`` windows)."""

    def __init__(self, pad_token_id: int, max_length: int, pad_to_multiple_of: int | None = 8):
        self.pad_token_id, self.max_length, self.pad_to_multiple_of = pad_token_id, max_length, pad_to_multiple_of

    def __call__(self, features: list) -> dict:
        return collate_qa(features, self.pad_token_id, self.pad_to_multiple_of, self.max_length)


def _pad_id(tokenizer) -> int:
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0


@dataclass
class TaskSpec:
    name: str  # qa | ner | pair
    head: str
    source_lang: str = "en"
    labels: list[str] = field(default_factory=list)  # ner tagging: tag labels; pair: class labels
    entity_types: list[str] = field(default_factory=list)  # ner
    scheme: str = "BIOES"
    pair_task: str = "pawsx"
    max_length: int = 384
    doc_stride: int = 128
    max_query_length: int = 64
    double_separator: bool = False
    max_answer_length: int = 30
    n_best: int = 20
    max_span_length: int | None = None
    mrc_threshold: float = 0.0
    constrained_decoding: bool = True
    que_token: str = "[QUE]"
    # FILTER (paper 004): {"local_layers", "fusion_layers", "pair_by"}; None: a single-stream model.
    filter: dict | None = None

    @classmethod
    def from_dict(cls, values: dict) -> "TaskSpec":
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @property
    def metrics(self) -> list[str]:
        return TASK_METRICS[self.name]

    @property
    def primary_metric(self) -> str:
        return PRIMARY_METRIC[self.name]

    # ---- data ------------------------------------------------------------------------------------------

    def read(self, source: DataSource) -> list:
        if self.name == "qa":
            return read_qa(source)
        if self.name == "ner":
            return read_sentences(source)
        return read_pair_rows(source, self.pair_task)

    @staticmethod
    def example_id(example) -> str:
        return example.id if isinstance(example, QAExample) else str(example["id"])

    def texts(self, example) -> list[str]:
        """The text of an example (tokenizer training)."""
        if self.name == "qa":
            return [example.question, example.context]
        if self.name == "ner":
            return [" ".join(example["tokens"])]
        return [example["sentence1"], example["sentence2"]]

    def fit_labels(self, examples: Sequence, entity_types_given: Sequence[str] | None = None) -> None:
        """Fix the label set from the training examples (or the configured entity types)."""
        if self.name == "ner":
            self.entity_types = sorted(entity_types_given) if entity_types_given else \
                entity_types(example["tags"] for example in examples)
            if not self.entity_types:
                raise ValueError("the NER training data holds no entity: no entity types to learn")
            self.labels = label_list(self.entity_types, self.scheme) if self.head == "tagging" else []
        elif self.name == "pair":
            self.labels = list(TASK_LABELS[self.pair_task])

    # ---- model -----------------------------------------------------------------------------------------

    def prepare_tokenizer(self, tokenizer) -> None:
        if self.head == "que":
            from trainer.clism_features import add_que_token
            add_que_token(tokenizer, que_token=self.que_token)

    def build_model(self, encoder) -> nn.Module:
        if self.filter:
            return build_filter_model(self, encoder, self.filter["local_layers"], self.filter["fusion_layers"])
        if self.head in ("extractor", "mrc"):
            return ExtractorQA(encoder, SpanExtractorConfig(max_span_length=self.max_span_length))
        if self.head == "start_end":
            return StartEndQA(encoder)
        if self.head == "que":
            return QueQA(encoder)
        if self.head == "tagging":
            return TokenTagger(encoder, len(self.labels))
        if self.head == "classifier":
            return PairClassifier(encoder, len(self.labels))
        raise ValueError(f"unknown head {self.head!r}")

    def _qa_features(self) -> QAFeatureConfig:
        return QAFeatureConfig(max_length=self.max_length, doc_stride=self.doc_stride,
                               max_query_length=self.max_query_length,
                               head=self.head,
                               double_separator=self.double_separator, que_token=self.que_token)

    def _mrc_features(self) -> MRCFeatureConfig:
        return MRCFeatureConfig(max_length=self.max_length, max_query_length=self.max_query_length,
                                double_separator=self.double_separator)

    def _tagged_rows(self, examples: Sequence[dict]) -> list[dict]:
        """Tags of types outside the label set become O (a configured subset of the types)."""
        kept = set(self.entity_types)
        return [{**row, "tags": [tag if tag == "O" or parse_tag(tag)[1] in kept else "O" for tag in row["tags"]]}
                for row in examples]

    def training_items(self, tokenizer, examples: Sequence) -> tuple[list, Callable[[list], dict]]:
        """What the batch stream holds (rows or featurised windows) and the collate function over them."""
        if self.name == "qa":
            features = QAFeaturizer(tokenizer, self._qa_features())([e.as_row() for e in examples])
            return features, QAWindowCollate(_pad_id(tokenizer), self.max_length)
        if self.name == "ner" and self.head == "tagging":
            return self._tagged_rows(examples), TaggingCollator(tokenizer, self.labels, self.scheme, self.max_length)
        if self.name == "ner":
            rows = [mrc for row in self._tagged_rows(examples)
                    for mrc in ner_mrc_rows(row["id"], row["lang"], row["tokens"], row["tags"], self.entity_types)]
            return rows, MRCCollator(tokenizer, self._mrc_features())
        if self.head == "classifier":
            return list(examples), PairCollator(tokenizer, self.labels, self.max_length, self.double_separator)
        return list(examples), PairMRCCollator(tokenizer, self.pair_task, self._mrc_features())

    def max_input_length(self) -> int:
        return self.max_length

    # ---- evaluation ------------------------------------------------------------------------------------

    @torch.no_grad()
    def evaluate(self, model: nn.Module, tokenizer, examples: Sequence, batch_size: int = 32,
                 translations: dict[str, Sequence] | None = None) -> dict[str, dict]:
        """Metrics per language of ``examples`` (percentages, plus ``count``). A FILTER model reads each example
        with its translation: ``translations`` maps each language to the translations of its examples."""
        if self.filter:
            pairs = []
            for lang in dict.fromkeys(example["lang"] for example in examples):
                if not translations or lang not in translations:
                    raise ValueError(f"a FILTER model needs the translations of the {lang!r} examples into the "
                                     "source language")
                pairs += pair_translations([e for e in examples if e["lang"] == lang], translations[lang],
                                           self.filter["pair_by"], f"evaluation data {lang}")
            return filter_evaluate(self, model, tokenizer, pairs, batch_size)
        was_training = model.training
        model.eval()
        try:
            by_lang: dict[str, list] = {}
            for example in examples:
                lang = example.lang if isinstance(example, QAExample) else example["lang"]
                by_lang.setdefault(lang, []).append(example)
            # The source language first, then the others in the order the data gave them.
            order = sorted(by_lang, key=lambda lang: lang != self.source_lang)
            return {lang: self._evaluate_language(model, tokenizer, by_lang[lang], batch_size) for lang in order}
        finally:
            model.train(was_training)

    def _evaluate_language(self, model, tokenizer, examples: Sequence, batch_size: int) -> dict:
        device = next(model.parameters()).device
        if self.name == "qa":
            _, per_language = evaluate_qa(model, tokenizer, list(examples), self._qa_features(), batch_size,
                                          self.n_best, self.max_answer_length, device=device)
            (scores,) = per_language.values()
            return scores
        if self.name == "ner" and self.head == "tagging":
            unlabelled = [{"id": row["id"], "tokens": row["tokens"]} for row in examples]
            predicted = predict_tags(model, tokenizer, unlabelled, self.labels, self.scheme, self.max_length,
                                     batch_size, self.constrained_decoding, device)
            scores = entity_scores([row["tags"] for row in examples], predicted)
            return {**scores, "count": len(examples)}
        if self.name == "ner":
            predicted = self._ner_mrc_entities(model, tokenizer, examples, batch_size, device)
            scores = span_scores([spans_from_tags(list(row["tags"])) for row in examples], predicted)
            return {**scores, "count": len(examples)}
        gold = [row["label"] for row in examples]
        if self.head == "classifier":
            collate = PairCollator(tokenizer, self.labels, self.max_length, self.double_separator)
            predicted = []
            for start in range(0, len(examples), batch_size):
                batch = collate(examples[start:start + batch_size])
                tensors = {k: v.to(device) for k, v in batch.items() if isinstance(v, torch.Tensor) and k != "labels"}
                predicted += [self.labels[n] for n in model(**tensors)["logits"].argmax(dim=-1).tolist()]
        else:
            collate = PairMRCCollator(tokenizer, self.pair_task, self._mrc_features())
            by_id = {}
            for start in range(0, len(examples), batch_size):
                batch = collate(examples[start:start + batch_size])
                tensors = {k: v.to(device) for k, v in batch.items()
                           if isinstance(v, torch.Tensor) and k != "answer_spans"}
                by_id.update(pair_mrc_predictions(model(**tensors)["scores"], batch))
            predicted = [by_id[row["id"]] for row in examples]
        return accuracy(gold, predicted)

    def _ner_mrc_entities(self, model, tokenizer, sentences: Sequence[dict], batch_size: int, device) -> list:
        """Entities of each sentence from the extractor's scores of its per-type queries (paper 001 Table 6)."""
        featurizer = MRCFeaturizer(tokenizer, self._mrc_features())
        queries = [(index, mrc) for index, row in enumerate(sentences)
                   for mrc in ner_mrc_rows(row["id"], row["lang"], row["tokens"], None, self.entity_types)]
        type_scores: list[list] = [[] for _ in sentences]
        for start in range(0, len(queries), batch_size):
            chunk = queries[start:start + batch_size]
            features = featurizer([mrc for _, mrc in chunk])
            batch = collate_mrc(features, _pad_id(tokenizer), 8, self.max_length)
            tensors = {k: v.to(device) for k, v in batch.items()
                       if isinstance(v, torch.Tensor) and k != "answer_spans"}
            scores = model(**tensors)["scores"].float().cpu()
            for n, ((index, mrc), feature) in enumerate(zip(chunk, features)):
                size = len(feature.input_ids)
                type_scores[index].append((mrc["entity_type"], scores[n, :size, :size].numpy(), feature))
        return [decode_ner_mrc(type_scores[index], row["tokens"], self.mrc_threshold, self.max_span_length)
                for index, row in enumerate(sentences)]


def task_spec_from_config(config: Any, tokenizer=None) -> TaskSpec:
    """The ``TaskSpec`` of a ``FinetuneConfig`` (labels are fixed later from the training data)."""
    task, data = config.task, config.data
    double = task.double_separator
    if double is None:
        double = tokenizer is not None and "token_type_ids" not in tokenizer.model_input_names
    return TaskSpec(name=task.name, head=task.head, source_lang=data.source_lang, scheme=task.scheme,
                    pair_task=task.pair_task, max_length=data.max_length, doc_stride=data.doc_stride,
                    max_query_length=data.max_query_length, double_separator=double,
                    max_answer_length=task.max_answer_length, n_best=task.n_best,
                    max_span_length=task.max_span_length, mrc_threshold=task.mrc_threshold,
                    constrained_decoding=task.constrained_decoding, que_token=task.que_token,
                    filter=None if config.model.filter.local_layers is None else {
                        "local_layers": config.model.filter.local_layers,
                        "fusion_layers": config.model.filter.fusion_layers,
                        "pair_by": config.model.filter.pair_by})


# ---------------------------------------------------------------------------------------------------------
# FILTER (paper 004): each example read together with its translation

FILTER_TASKS = {("ner", "tagging"): "tagging", ("pair", "classifier"): "classification"}


def pair_translations(targets: Sequence, sources: Sequence, pair_by: str, where: str) -> list[tuple]:
    """``(target example, source example)`` pairs: by position (``index``), equal id (``id``, language prefixes
    of pair ids aside) or the target's ``source_id`` (``source_id``). A target without its translation is an
    error naming it."""
    if pair_by == "index":
        if len(sources) < len(targets):
            raise ValueError(f"{where}: {len(targets)} examples but only {len(sources)} translations to pair by "
                             "position")
        return list(zip(targets, sources))
    by_id = {_pairing_id(source): source for source in sources}
    if pair_by == "source_id":
        by_id.update({TaskSpec.example_id(source): source for source in sources})
    pairs = []
    for target in targets:
        key = target.get("source_id") if pair_by == "source_id" else _pairing_id(target)
        if key not in by_id:
            raise ValueError(f"{where}: example {TaskSpec.example_id(target)!r} has no translation with id {key!r}")
        pairs.append((target, by_id[key]))
    return pairs


def _pairing_id(example) -> str:
    """An example's id without the ``<lang>-`` prefix the pair readers give (PAWS-X's ``de-17`` pairs with
    ``en-17``); other ids (XQuAD's question ids) as they are."""
    example_id = TaskSpec.example_id(example)
    lang = example.lang if isinstance(example, QAExample) else example.get("lang")
    prefix = f"{lang}-"
    return example_id[len(prefix):] if lang and example_id.startswith(prefix) else example_id


class FilterCollate:
    """Collates ``(target, source)`` example pairs into one FILTER batch: the target stream's keys as the task
    collator makes them, the source stream's under ``source_`` (``source_labels`` from the source's labels)."""

    STREAM_KEYS = ("input_ids", "attention_mask", "token_type_ids")

    def __init__(self, collate: Callable[[list], dict], target_labels: bool = True):
        self.collate, self.target_labels = collate, target_labels

    def __call__(self, pairs: list) -> dict:
        target = self.collate([t for t, _ in pairs])
        source = self.collate([s for _, s in pairs])
        batch = dict(target)
        if not self.target_labels:
            batch.pop("labels", None)
        for key in (*self.STREAM_KEYS, "labels"):
            if key in source:
                batch[f"source_{key}" if key != "labels" else "source_labels"] = source[key]
        return batch


def build_filter_model(spec: "TaskSpec", encoder, local_layers: int, fusion_layers: int) -> nn.Module:
    from trainer.filter_model import FilterConfig, FilterModel
    task = FILTER_TASKS[(spec.name, spec.head)]
    return FilterModel(encoder, FilterConfig(task=task, local_layers=local_layers, fusion_layers=fusion_layers,
                                             num_labels=len(spec.labels)))


def filter_training_items(spec: TaskSpec, tokenizer, pairs: Sequence[tuple],
                          target_labels: bool = True) -> tuple[list, FilterCollate]:
    if spec.head == "tagging":
        pairs = list(zip(spec._tagged_rows([t for t, _ in pairs]), spec._tagged_rows([s for _, s in pairs])))
        collate = TaggingCollator(tokenizer, spec.labels, spec.scheme, spec.max_length)
    else:
        collate = PairCollator(tokenizer, spec.labels, spec.max_length, spec.double_separator)
    return list(pairs), FilterCollate(collate, target_labels)


@torch.no_grad()
def filter_evaluate(spec: TaskSpec, model: nn.Module, tokenizer, pairs: Sequence[tuple],
                    batch_size: int = 32) -> dict[str, dict]:
    """Metrics per language of the target examples of ``pairs``, predicted from FILTER's target stream."""
    from trainer.tagging import decode_batch

    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    try:
        by_lang: dict[str, list] = {}
        for pair in pairs:
            by_lang.setdefault(pair[0]["lang"], []).append(pair)
        results = {}
        for lang in sorted(by_lang, key=lambda lang: lang != spec.source_lang):
            items, collate = filter_training_items(spec, tokenizer, by_lang[lang], target_labels=False)
            predicted = []
            for start in range(0, len(items), batch_size):
                chunk = items[start:start + batch_size]
                batch = collate(chunk)
                tensors = {k: v.to(device) for k, v in batch.items()
                           if isinstance(v, torch.Tensor) and k not in ("labels", "source_labels")}
                logits = model(**tensors)["logits"]
                if spec.head == "tagging":
                    words = [len(target["tokens"]) for target, _ in chunk]
                    predicted += decode_batch(logits, batch, spec.labels, spec.scheme, spec.constrained_decoding,
                                              words)
                else:
                    predicted += [spec.labels[n] for n in logits.argmax(dim=-1).tolist()]
            targets = [target for target, _ in by_lang[lang]]
            if spec.head == "tagging":
                results[lang] = {**entity_scores([t["tags"] for t in targets], predicted), "count": len(targets)}
            else:
                results[lang] = accuracy([t["label"] for t in targets], predicted)
        return results
    finally:
        model.train(was_training)


class TeacherCollate:
    """A self-teaching student's batches (paper 004): the task collate's batch plus the stored teacher logits of
    each item, matched by example id (``item_id``), as ``teacher_logits`` (``[B, C]`` classification, ``[B, L, C]``
    tagging, padded to the batch) and ``teacher_mask`` (``[B]`` / ``[B, L]``: the rows / tokens the teacher
    covers). Token-level logits must cover exactly the student's tokens of the target stream (the same
    tokenizer and ``max_length``); ``TeacherPredictions.batch`` refuses other lengths."""

    def __init__(self, collate: Callable[[list], dict], teacher, item_id: Callable[[Any], str]):
        self.collate, self.teacher, self.item_id = collate, teacher, item_id

    def __call__(self, items: list) -> dict:
        batch = self.collate(items)
        ids = [self.item_id(item) for item in items]
        if self.teacher.task == "classification":
            logits, _ = self.teacher.batch(ids)
            batch["teacher_logits"] = logits["logits"]
            batch["teacher_mask"] = torch.ones(len(ids), dtype=torch.bool)
            return batch
        attention = batch["attention_mask"]
        logits, mask = self.teacher.batch(ids, attention.shape[1], attention.sum(dim=1).tolist())
        batch["teacher_logits"], batch["teacher_mask"] = logits["logits"], mask
        return batch
