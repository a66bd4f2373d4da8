"""FILTER's two streams (paper 004): every example read together with its translation.

Training pairs each translated (target-language) example with the source example it translates; evaluation
pairs each test example with its translation into the source language. ``pair_by`` says how the two sides
find each other: ``index`` (the k-th example of both files: line-parallel data such as Europarl), ``id``
(equal example ids: XQuAD, PAWS-X), ``source_id`` (a tagged row's ``source_id``, what
pipelines.project_labels writes, against the source ids).

A task takes part when it collates its examples themselves (``Task.example_collate``: one item per example, a
QA example as one window) and decodes and scores a model's outputs (``Task.labels_from_outputs``,
``Task.score_labels``): NER tagging, pair classification and start/end QA.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import nn

from schemas.errors import InputDataError
from trainer.loop.progress import chunks, labelled
from trainer.tasks.base import Task, evaluation_mode, model_inputs


def filter_ready(task_class: type) -> bool:
    """Whether a task class implements what FILTER needs."""
    return task_class.example_collate is not Task.example_collate


def pair_translations(task: Task, targets: Sequence, sources: Sequence, pair_by: str, where: str) -> list[tuple]:
    """``(target example, source example)`` pairs; a target without its translation is an error naming it."""
    if pair_by == "index":
        if len(sources) < len(targets):
            raise InputDataError(f"{where}: {len(targets)} examples but only {len(sources)} translations to pair by "
                                  "position")
        return list(zip(targets, sources))
    by_id = {_pairing_id(task, source): source for source in sources}
    if pair_by == "source_id":
        by_id.update({task.example_id(source): source for source in sources})
    pairs = []
    for target in targets:
        key = target.get("source_id") if pair_by == "source_id" else _pairing_id(task, target)
        if key not in by_id:
            raise InputDataError(f"{where}: example {task.example_id(target)!r} has no translation with id {key!r}")
        pairs.append((target, by_id[key]))
    return pairs


def _pairing_id(task: Task, example) -> str:
    """An example's id without the ``<lang>-`` prefix the pair readers give (PAWS-X's ``de-17`` pairs with
    ``en-17``); other ids (XQuAD's question ids) as they are."""
    example_id, lang = task.example_id(example), task.example_lang(example)
    prefix = f"{lang}-"
    return example_id[len(prefix):] if lang and example_id.startswith(prefix) else example_id


class FilterCollate:
    """Collates ``(target, source)`` example pairs into one FILTER batch: the target stream's keys as the task
    collator makes them, the source stream's and its labels (``label_keys``) under ``source_``."""

    STREAM_KEYS = ("input_ids", "attention_mask", "token_type_ids")

    def __init__(self, collate: Callable[[list], dict], target_labels: bool = True,
                 label_keys: Sequence[str] = ("labels",)):
        self.collate, self.target_labels, self.label_keys = collate, target_labels, tuple(label_keys)

    def __call__(self, pairs: list) -> dict:
        target = self.collate([t for t, _ in pairs])
        source = self.collate([s for _, s in pairs])
        batch = dict(target)
        if not self.target_labels:
            for key in self.label_keys:
                batch.pop(key, None)
        for key in (*self.STREAM_KEYS, *self.label_keys):
            if key in source:
                batch[f"source_{key}"] = source[key]
        return batch


def build_filter_model(task: Task, encoder, kl_weight: float | None = None,
                       target_label_weight: float | None = None, temperature: float = 1.0) -> nn.Module:
    """A ``FilterModel`` of ``task``'s settings (local and fusion layers); with a teacher, its own forward adds
    the self-teaching KL term (eq. 6)."""
    from trainer.models.filter_model import FilterConfig, FilterModel

    options = task.settings.filter
    config = FilterConfig(task=task.soft_labels, local_layers=options["local_layers"],
                          fusion_layers=options["fusion_layers"], num_labels=len(task.settings.labels))
    if kl_weight is not None:
        config.kl_weight, config.target_label_weight, config.temperature = kl_weight, target_label_weight, temperature
    return FilterModel(encoder, config)


def label_entries(task: Task) -> tuple[str, ...]:
    """The batch entries of both streams' labels (left out of a forward that only predicts)."""
    return (*task.label_keys, *(f"source_{key}" for key in task.label_keys))


def build_model(task: Task, encoder, kl_weight: float | None = None, target_label_weight: float | None = None,
                temperature: float = 1.0) -> nn.Module:
    """The task's model: its head on ``encoder``, or a FILTER model when its settings name one."""
    if task.settings.filter:
        return build_filter_model(task, encoder, kl_weight, target_label_weight, temperature)
    return task.build_head(encoder)


def paired_items(task: Task, tokenizer, pairs: Sequence[tuple], target_labels: bool = True
                 ) -> tuple[list, FilterCollate]:
    """The batch stream's items (pairs; NER tags of unknown types become O) and their collate function."""
    known = getattr(task, "known_types_only", None)
    if known is not None:
        pairs = list(zip(known([t for t, _ in pairs]), known([s for _, s in pairs])))
    return list(pairs), FilterCollate(task.example_collate(tokenizer), target_labels, task.label_keys)


def training_pairs(task: Task, translated: dict[str, list], source: list, languages: Sequence[str]) -> list[tuple]:
    """(translated example, its source) pairs of the target ``languages``."""
    pair_by = task.settings.filter["pair_by"]
    return [pair for lang in languages
            for pair in pair_translations(task, translated[lang], source, pair_by, f"data.translated.{lang}")]


def evaluation_pairs(task: Task, examples: Sequence, translations: dict[str, Sequence]) -> list[tuple]:
    """Each evaluation example with its translation into the source language."""
    pairs = []
    for lang, rows in task.by_language(examples).items():
        if lang not in translations:
            raise InputDataError(f"a FILTER model needs the translations of the {lang!r} examples into the source "
                                  "language")
        pairs += pair_translations(task, rows, translations[lang], task.settings.filter["pair_by"],
                                   f"evaluation data {lang}")
    return pairs


@torch.no_grad()
def evaluate_paired(task: Task, model: nn.Module, tokenizer, examples: Sequence,
                    translations: dict[str, Sequence], batch_size: int = 32) -> dict[str, dict]:
    """Metrics per language of ``examples``, predicted from FILTER's target stream."""
    device = next(model.parameters()).device
    with evaluation_mode(model):
        by_lang: dict[str, list] = {}
        for pair in evaluation_pairs(task, examples, translations):
            by_lang.setdefault(task.example_lang(pair[0]), []).append(pair)
        results = {}
        for lang, lang_pairs in by_lang.items():
            items, collate = paired_items(task, tokenizer, lang_pairs, target_labels=False)
            predicted = []
            with labelled(f"eval {lang}"):
                for chunk in chunks(items, batch_size, "pair"):
                    batch = collate(chunk)
                    outputs = model(**model_inputs(batch, device, drop=label_entries(task)))
                    predicted += task.labels_from_outputs(outputs, batch, [target for target, _ in chunk])
            results[lang] = task.score_labels([target for target, _ in lang_pairs], predicted)
        return results


def evaluate_task(task: Task, model: nn.Module, tokenizer, examples: Sequence, batch_size: int = 32,
                  translations: dict[str, Sequence] | None = None) -> dict[str, dict]:
    """Metrics per language of ``examples``, single-stream or FILTER: a FILTER model reads each example with its
    translation (``translations``: language -> the translations of its examples)."""
    if task.settings.filter:
        return evaluate_paired(task, model, tokenizer, examples, translations or {}, batch_size)
    return task.evaluate(model, tokenizer, examples, batch_size)
