"""Sentence-pair classification (PAWS-X, XNLI), one class per head; both read pair rows ``{"id", "lang",
"sentence1", "sentence2", "label"}`` and score accuracy.

| head | model | batches |
|---|---|---|
| ``classifier`` | ``PairClassifier`` on ``[CLS]`` | ``[CLS] s1 [SEP] s2 [SEP]`` (``PairCollator``) |
| ``mrc`` | ``ExtractorQA`` | one query per label; the label whose query scores the highest S_00 wins |

ABSA's sentence-pair form (``absa/pair``: the sentence and one aspect term, labelled with its polarity) is the
same classifier (``AbsaPair``).
"""
from __future__ import annotations

from typing import Sequence

from trainer.data.pair_features import PairCollator, PairMRCCollator
from trainer.data.pair_tsv import TASK_LABELS
from trainer.data.readers import DataSource, read_absa, read_pair_rows
from trainer.data.semeval import POLARITIES
from trainer.loop.progress import chunks
from trainer.models.pair_classifier import PairClassifier
from trainer.models.qa_heads import ExtractorQA
from trainer.models.span_extractor import SpanExtractorConfig
from trainer.tasks.base import Task, model_inputs
from trainer.tasks.metrics import accuracy
from trainer.tasks.query_extractor import mrc_feature_config
from trainer.tasks.span_decoding import pair_mrc_predictions


class PairTask(Task):
    """What the pair heads share: rows, the label set of ``pair_task`` and accuracy."""

    name = "pair"
    metrics = ("accuracy",)
    primary_metric = "accuracy"

    def read(self, source: DataSource) -> list[dict]:
        return read_pair_rows(source, self.settings.pair_task)

    def texts(self, example: dict) -> list[str]:
        return [example["sentence1"], example["sentence2"]]

    def example_from_record(self, record: dict, lang: str, example_id: str) -> dict:
        for key in ("sentence1", "sentence2"):
            if not isinstance(record.get(key), str) or not record[key].strip():
                raise KeyError(f"a pair record needs a non-empty {key!r}")
        return {"id": example_id, "lang": lang, "sentence1": record["sentence1"], "sentence2": record["sentence2"]}

    def fit_labels(self, examples, types=None) -> None:
        self.settings.labels = list(TASK_LABELS[self.settings.pair_task])

    def _labels(self, model, tokenizer, examples, batch_size) -> list[str]:
        raise NotImplementedError

    def score_language(self, model, tokenizer, examples, batch_size):
        return self.score_labels(examples, self._labels(model, tokenizer, examples, batch_size))

    def score_labels(self, examples, predicted):
        return accuracy([row["label"] for row in examples], predicted)

    def predict(self, model, tokenizer, examples, batch_size):
        labels = self._labels(model, tokenizer, examples, batch_size)
        return [{"id": row["id"], "lang": row["lang"], "label": label} for row, label in zip(examples, labels)]


class PairClassification(PairTask):
    head = "classifier"
    soft_labels = "classification"

    def build_head(self, encoder):
        return PairClassifier(encoder, len(self.settings.labels))

    def example_collate(self, tokenizer):
        s = self.settings
        return PairCollator(tokenizer, s.labels, s.max_length, s.double_separator)

    def training_items(self, tokenizer, examples):
        return list(examples), self.example_collate(tokenizer)

    def labels_from_outputs(self, outputs, batch, examples):
        return [self.settings.labels[n] for n in outputs["logits"].argmax(dim=-1).tolist()]

    def _labels(self, model, tokenizer, examples, batch_size):
        collate, device, predicted = self.example_collate(tokenizer), next(model.parameters()).device, []
        for chunk in chunks(examples, batch_size, "pair"):
            batch = collate(chunk)
            predicted += self.labels_from_outputs(model(**model_inputs(batch, device, drop=("labels",))), batch, chunk)
        return predicted


class PairMRC(PairTask):
    head = "mrc"

    def build_head(self, encoder):
        return ExtractorQA(encoder, SpanExtractorConfig(max_span_length=self.settings.max_span_length))

    def _collate(self, tokenizer) -> PairMRCCollator:
        return PairMRCCollator(tokenizer, self.settings.pair_task, mrc_feature_config(self.settings))

    def training_items(self, tokenizer, examples: Sequence[dict]):
        return list(examples), self._collate(tokenizer)

    def _labels(self, model, tokenizer, examples, batch_size):
        collate, device, by_id = self._collate(tokenizer), next(model.parameters()).device, {}
        for chunk in chunks(examples, batch_size, "pair"):
            batch = collate(chunk)
            by_id.update(pair_mrc_predictions(model(**model_inputs(batch, device, drop=("answer_spans",)))["scores"],
                                              batch))
        return [by_id[row["id"]] for row in examples]


class AbsaPair(PairClassification):
    """ABSA as sentence pairs: every aspect term of a SemEval sentence is a pair (the sentence, the term) whose
    label is its polarity (POS/NEG/NEU), a classifier on [CLS], accuracy over the aspects."""

    name, head = "absa", "pair"

    def read(self, source: DataSource) -> list[dict]:
        return [{"id": f"{sentence['id']}/{aspect['start']}-{aspect['end']}", "lang": sentence["lang"],
                 "sentence1": sentence["text"], "sentence2": aspect["text"], "label": aspect["polarity"]}
                for sentence in read_absa(source) for aspect in sentence["aspects"]]

    def fit_labels(self, examples, types=None) -> None:
        self.settings.labels = sorted(POLARITIES.values())
