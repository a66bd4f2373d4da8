"""Named-entity recognition, one class per head; both read tagged sentences ``{"id", "lang", "tokens", "tags"}``
and score entity-level precision/recall/F1 (CoNLL semantics). ABSA's tagging form (paper 002) is the same
tagger over polarity types (``AbsaTagging``: SemEval aspects as BIOES tags of white-space words).

| head | model | batches |
|---|---|---|
| ``tagging`` | ``TokenTagger``: a softmax over BIOES/BIO tags | first-subword labels (``TaggingCollator``) |
| ``mrc`` | ``ExtractorQA`` | one query per entity type (paper 001 Table 6); entities are spans with S_ij > 0 |
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from schemas.errors import InputDataError
from schemas.tags import parse_tag, spans_from_tags
from trainer.data.mrc_features import MRCCollator
from trainer.data.readers import DataSource, read_absa, read_sentences
from trainer.data.semeval import POLARITIES, word_tagged
from trainer.data.tagging_features import TaggingCollator, _row_words_and_tags, entity_types, label_list, ner_mrc_rows
from trainer.data.words import split_words
from trainer.loop.progress import chunks
from trainer.models.qa_heads import ExtractorQA
from trainer.models.span_extractor import SpanExtractorConfig
from trainer.models.token_tagger import TokenTagger
from trainer.tasks.base import Task, evaluation_mode, model_inputs
from trainer.tasks.metrics import entity_scores, span_scores
from trainer.tasks.query_extractor import QueryExtractorTask
from trainer.tasks.span_decoding import decode_ner_mrc, ner_mrc_tags
from trainer.tasks.tag_decoding import decode_batch


class NERTask(Task):
    """What the NER heads share: tagged sentences, the entity types and their scores."""

    name = "ner"
    metrics = ("precision", "recall", "f1")
    primary_metric = "f1"

    def read(self, source: DataSource) -> list[dict]:
        return read_sentences(source)

    def texts(self, example: dict) -> list[str]:
        return [" ".join(example["tokens"])]

    def example_from_record(self, record: dict, lang: str, example_id: str) -> dict:
        """``{"text"}`` is split into words with their offsets (``trainer.data.words``: punctuation apart from
        the words, so ``München.`` is tagged as ``München`` and ``.``); ``{"tokens"}`` are taken as given and
        joined with single spaces into the text their offsets point into."""
        if "tokens" in record:
            tokens = record["tokens"]
            if not isinstance(tokens, list) or not tokens or not all(isinstance(t, str) and t.strip() for t in tokens):
                raise KeyError("an NER record's 'tokens' must be a non-empty list of non-blank strings")
            text, offsets = joined_words(tokens)
        else:
            text = record.get("text")
            found = split_words(text) if isinstance(text, str) else []
            if not found:
                raise KeyError("an NER record needs a non-blank 'text' (or 'tokens')")
            tokens, offsets = [w for w, _, _ in found], [[start, end] for _, start, end in found]
        return {"id": example_id, "lang": lang, "tokens": list(tokens), "tags": ["O"] * len(tokens), "text": text,
                "offsets": offsets}

    def fit_labels(self, examples: Sequence[dict], types: Sequence[str] | None = None) -> None:
        settings = self.settings
        settings.entity_types = sorted(types) if types else entity_types(example["tags"] for example in examples)
        if not settings.entity_types:
            raise InputDataError("the NER training data holds no entity: no entity types to learn")
        settings.labels = label_list(settings.entity_types, settings.scheme) if self.head == "tagging" else []

    def uses_training_labels(self) -> bool:
        return True

    def known_types_only(self, examples: Sequence[dict]) -> list[dict]:
        """Tags of types outside the label set become O (a configured subset of the types)."""
        kept = set(self.settings.entity_types)
        return [{**row, "tags": [tag if tag == "O" or parse_tag(tag)[1] in kept else "O" for tag in row["tags"]]}
                for row in examples]


class NERTagging(NERTask):
    head = "tagging"
    soft_labels = "tagging"

    def build_head(self, encoder):
        return TokenTagger(encoder, len(self.settings.labels))

    def example_collate(self, tokenizer):
        s = self.settings
        return TaggingCollator(tokenizer, s.labels, s.scheme, s.max_length)

    def training_items(self, tokenizer, examples):
        return self.known_types_only(examples), self.example_collate(tokenizer)

    def _tags(self, model, tokenizer, examples, batch_size) -> list[list[str]]:
        s = self.settings
        unlabelled = [{"id": row["id"], "tokens": row["tokens"]} for row in examples]
        return predict_tags(model, tokenizer, unlabelled, s.labels, s.scheme, s.max_length, batch_size,
                            s.constrained_decoding, next(model.parameters()).device)

    def score_language(self, model, tokenizer, examples, batch_size):
        return self.score_labels(examples, self._tags(model, tokenizer, examples, batch_size))

    def predict(self, model, tokenizer, examples, batch_size):
        tags = self._tags(model, tokenizer, examples, batch_size)
        return [tagged_prediction(row, predicted) for row, predicted in zip(examples, tags)]

    def labels_from_outputs(self, outputs, batch, examples):
        s = self.settings
        return decode_batch(outputs["logits"], batch, s.labels, s.scheme, s.constrained_decoding,
                            [len(row["tokens"]) for row in examples])

    def score_labels(self, examples, predicted):
        return {**entity_scores([row["tags"] for row in examples], predicted), "count": len(examples)}


class NERMRC(QueryExtractorTask, NERTask):
    head = "mrc"

    def build_head(self, encoder):
        return ExtractorQA(encoder, SpanExtractorConfig(max_span_length=self.settings.max_span_length))

    def training_items(self, tokenizer, examples):
        rows = [mrc for row in self.known_types_only(examples)
                for mrc in ner_mrc_rows(row["id"], row["lang"], row["tokens"], row["tags"],
                                        self.settings.entity_types)]
        return rows, MRCCollator(tokenizer, self.mrc_features())

    def entities(self, model, tokenizer, sentences: Sequence[dict], batch_size: int) -> list:
        """Entities of each sentence from the extractor's scores of its per-type queries."""
        s = self.settings
        queries = [(index, mrc) for index, row in enumerate(sentences)
                   for mrc in ner_mrc_rows(row["id"], row["lang"], row["tokens"], None, s.entity_types)]
        type_scores = self.query_scores(model, tokenizer, queries, len(sentences), "entity_type", batch_size)
        return [decode_ner_mrc(type_scores[index], row["tokens"], s.mrc_threshold, s.max_span_length)
                for index, row in enumerate(sentences)]

    def score_language(self, model, tokenizer, examples, batch_size):
        predicted = self.entities(model, tokenizer, examples, batch_size)
        scores = span_scores([spans_from_tags(list(row["tags"])) for row in examples], predicted)
        return {**scores, "count": len(examples)}

    def predict(self, model, tokenizer, examples, batch_size):
        entities = self.entities(model, tokenizer, examples, batch_size)
        return [tagged_prediction(row, ner_mrc_tags(found, len(row["tokens"]), self.settings.scheme))
                for row, found in zip(examples, entities)]


def joined_words(tokens: Sequence[str]) -> tuple[str, list[list[int]]]:
    """Words joined with single spaces, and each word's ``[start, end)`` in that text."""
    offsets, start = [], 0
    for token in tokens:
        offsets.append([start, start + len(token)])
        start += len(token) + 1
    return " ".join(tokens), offsets


def tagged_prediction(row: dict, tags: Sequence[str]) -> dict:
    """``trainer.predict``'s row of a tagged sentence: the text, its words with ``[start, end)`` character
    offsets, their tags, and the entities the tags make, each ``{"text", "type", "start", "end"}`` with
    ``text == row_text[start:end]`` (a CoNLL sentence's text is its words joined with single spaces)."""
    text, offsets = (row["text"], row["offsets"]) if "offsets" in row else joined_words(row["tokens"])
    entities = []
    for span in spans_from_tags(list(tags)):
        start, end = offsets[span.start][0], offsets[span.end - 1][1]
        entities.append({"text": text[start:end], "type": span.label, "start": start, "end": end})
    return {"id": row["id"], "lang": row["lang"], "text": text, "tokens": list(row["tokens"]),
            "offsets": [list(pair) for pair in offsets], "tags": list(tags), "entities": entities}


@torch.no_grad()
def predict_tags(model: nn.Module, tokenizer, sentences: Sequence, labels: Sequence[str], scheme: str = "BIOES",
                 max_length: int = 128, batch_size: int = 32, constrained: bool = True,
                 device: torch.device | str | None = None) -> list[list[str]]:
    """Word tags for every sentence (``tagged`` rows or ``ConllSentence``s) from a ``TokenTagger``, in
    evaluation mode; score them with ``metrics.entity_scores`` against the gold tags."""
    collator = TaggingCollator(tokenizer, labels, scheme, max_length)
    device = device or next(model.parameters()).device
    predicted = []
    with evaluation_mode(model):
        for chunk in chunks(sentences, batch_size, "sentence"):
            batch = collator(chunk)
            logits = model(**model_inputs(batch, device, drop=("labels",)))["logits"]
            words = [len(_row_words_and_tags(row)[1]) for row in chunk]
            predicted += decode_batch(logits, batch, labels, scheme, constrained, words)
    return predicted


class AbsaTagging(NERTagging):
    """ABSA as tagging (paper 002): the sentence's white-space words tagged with the aspects' polarities in
    BIOES (or BIO), a softmax tagger, entity-level F1 over ``(words, polarity)``."""

    name, head = "absa", "tagging"

    def read(self, source: DataSource) -> list[dict]:
        return [word_tagged(sentence, self.settings.scheme) for sentence in read_absa(source)]

    def fit_labels(self, examples, types=None) -> None:
        super().fit_labels(examples, types or sorted(POLARITIES.values()))

    def uses_training_labels(self) -> bool:
        return False  # the polarities are the label set, whatever the training data holds
