"""Self-teaching (paper 004) as a run sees it: a teacher run writes its logits on the translated training text;
a student run reads them back, checked, into its batches (``TeacherCollate``) and adds the KL term.

Teacher run (``self_teaching.write=NAME``): after training, the model's logits on every translated training
example (a FILTER model reads each with the source example it translates) go to
``<write_dir>/_soft_labels/NAME.parquet`` (trainer/adaptation/soft_labels.py). Student run
(``self_teaching.teacher=PATH``): the teacher's logits travel in each batch as ``teacher_logits`` /
``teacher_mask``, matched by example id; a FILTER student's own forward adds the KL term (eq. 6), a
single-stream student gets it from ``SelfTeachingHook``, a loop hook that takes the teacher entries out of the
batch before the forward and weighs ``label_weight · task loss + kl_weight · KL``.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from schemas.errors import InputDataError
from trainer.adaptation.soft_labels import (TeacherPredictions, rows_from_outputs, teacher_predictions_path,
                                            write_teacher_predictions)
from trainer.config import ConfigError
from trainer.loop.hooks import LoopHook
from trainer.loop.train import autocast_context
from trainer.models.distillation import DEFAULT_KL_WEIGHTS, kl_over_last_dim
from trainer.tasks.base import Task, evaluation_mode, model_inputs
from trainer.tasks.paired import label_entries, paired_items, training_pairs


@dataclass
class SelfTeachingConfig:
    """The ``self_teaching`` section: FILTER's self-teaching (paper 004) for the tasks that write soft labels.

    Teacher run: ``write=NAME`` writes, after training, the model's logits on the translated training text
    (``data.translated``; a FILTER model reads each with its source translation) to
    ``<write_dir>/_soft_labels/NAME.parquet`` (``write_dir`` None: the run's output directory; a ``tagged``
    dataset directory keeps them beside the data). Student run: ``teacher=PATH`` adds
    ``kl_weight · KL(teacher ‖ student)`` on the translated examples (matched by example id) to the loss, logged
    as ``loss_kl``; the target labels are weighted ``label_weight`` (None: 1 - kl_weight, eq. 6)."""

    write: str | None = None
    write_dir: str | None = None
    teacher: str | None = None
    kl_weight: float | None = None  # None: paper 004's 1.0 (tagging), 0.5 (classification), 0.1 (QA)
    temperature: float = 1.0
    label_weight: float | None = None

    def check(self) -> None:
        """This section's own values; whether the task, model and data allow self-teaching is the whole
        config's check."""
        if self.write is not None and (not self.write or "/" in self.write):
            raise ConfigError(f"self_teaching.write is a file name without '/', not {self.write!r}")
        if self.temperature <= 0:
            raise ConfigError(f"self_teaching.temperature must be positive, not {self.temperature}")
        for name in ("kl_weight", "label_weight"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ConfigError(f"self_teaching.{name} must be at least 0, not {value}")


def teacher_items(task: Task, tokenizer, translated: dict[str, list], source: list) -> tuple[list, Callable, list]:
    """What a teacher predicts on: every translated training example (a FILTER model reads each with the source
    example it translates); returns items, collate and the example ids."""
    languages = sorted(translated)
    if task.settings.filter:
        pairs = training_pairs(task, translated, source, languages)
        items, collate = paired_items(task, tokenizer, pairs, target_labels=False)
        return items, collate, [task.example_id(target) for target, _ in pairs]
    examples = [e for lang in languages for e in translated[lang]]
    items, collate = task.training_items(tokenizer, examples)
    return items, collate, [task.example_id(e) for e in examples]


@torch.no_grad()
def write_soft_labels(options: SelfTeachingConfig, task: Task, model: nn.Module, tokenizer,
                      translated: dict[str, list], source: list, *, output_dir: str, step: int, batch_size: int,
                      precision: str, device) -> Path:
    """The teacher's logits on the translated training text (target stream, eval mode) as
    ``<write_dir>/_soft_labels/<write>.parquet``."""
    items, collate, ids = teacher_items(task, tokenizer, translated, source)
    rows = []
    with evaluation_mode(model):
        for start in range(0, len(items), batch_size):
            batch = collate(items[start:start + batch_size])
            with autocast_context(precision, device):
                outputs = model(**model_inputs(batch, device, drop=label_entries(task)))
            outputs = {key: outputs[key] for key in ("logits", "start_logits", "end_logits") if key in outputs}
            size = len(next(iter(outputs.values())))
            rows += rows_from_outputs(task.soft_labels, ids[start:start + size], outputs,
                                      None if task.soft_labels == "classification" else batch["attention_mask"])
    path = teacher_predictions_path(options.write_dir or output_dir, options.write)
    info = {"model": output_dir, "step": step, "filter": task.settings.filter,
            "tokenizer": tokenizer_fingerprint(tokenizer), "max_length": task.settings.max_length,
            "languages": sorted(translated)}
    return write_teacher_predictions(path, task.soft_labels, rows, label_names=task.settings.labels, info=info)


def tokenizer_fingerprint(tokenizer) -> str:
    """A hash of what makes token positions (normaliser, pre-tokeniser, vocabulary): token-level teacher logits
    are only meaningful for a student that tokenises the same way."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        spec = json.loads(backend.to_str())
        described = {key: spec.get(key) for key in ("normalizer", "pre_tokenizer", "model", "added_tokens")}
    else:
        described = {"vocab": sorted(tokenizer.get_vocab().items())}
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode("utf-8")).hexdigest()[:16]


def load_teacher(options: SelfTeachingConfig, task: Task, tokenizer, translated: dict[str, list]):
    """The student's teacher predictions, checked: the task, the label set, the tokenisation (tagging) and a
    prediction for every translated training example."""
    teacher = TeacherPredictions.load(options.teacher)
    where = f"self_teaching.teacher {teacher.path}"
    if teacher.task != task.soft_labels:
        raise InputDataError(f"{where}: {teacher.task} predictions, but this student is a {task.soft_labels} model")
    if list(teacher.label_names) != list(task.settings.labels):
        raise InputDataError(f"{where}: labels {teacher.label_names} differ from the student's {task.settings.labels}")
    if task.soft_labels != "classification" and \
            teacher.info.get("tokenizer") not in (None, tokenizer_fingerprint(tokenizer)):
        raise InputDataError(f"{where}: written with another tokenizer; token-level logits need the teacher's "
                             "tokenizer (tokenizer.path=<teacher output_dir>/tokenizer)")
    missing = [e for rows in translated.values() for e in rows if task.example_id(e) not in teacher]
    if missing:
        raise InputDataError(f"{where}: no prediction for {len(missing)} translated training example(s), e.g. "
                             f"{task.example_id(missing[0])!r}: not the teacher of this data")
    return teacher


def self_teaching_weights(options: SelfTeachingConfig, task: Task) -> tuple[float, float]:
    """``(kl_weight, label_weight)`` of eq. 6: the configured values or paper 004's defaults."""
    kl_weight = DEFAULT_KL_WEIGHTS[task.soft_labels] if options.kl_weight is None else options.kl_weight
    label_weight = 1.0 - kl_weight if options.label_weight is None else options.label_weight
    return kl_weight, label_weight


class TeacherCollate:
    """A self-teaching student's batches (paper 004): the task collate's batch plus the stored teacher logits of
    each item, matched by example id (``item_id``), as ``teacher_logits`` (``[B, C]`` classification, ``[B, L, C]``
    tagging, padded to the batch) or ``teacher_start_logits``/``teacher_end_logits`` (``[B, L]``, QA) and
    ``teacher_mask`` (``[B]`` / ``[B, L]``: the rows / tokens the teacher
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
        batch.update({f"teacher_{name}": value for name, value in logits.items()})
        batch["teacher_mask"] = mask
        return batch


class SelfTeachingHook(LoopHook):
    """A single-stream student: ``label_weight · task loss + kl_weight · KL(teacher ‖ student)`` over the batch's
    ``teacher_logits``/``teacher_mask``; ``loss_task`` and ``loss_kl`` are logged."""

    batch_keys = ("teacher_logits", "teacher_mask")

    def __init__(self, kl_weight: float, label_weight: float, temperature: float):
        self.kl_weight, self.label_weight, self.temperature = kl_weight, label_weight, temperature

    def adjust_loss(self, terms: dict, taken: dict) -> dict:
        kl = kl_over_last_dim(terms["logits"], taken["teacher_logits"], self.temperature, taken["teacher_mask"])
        task_loss = terms["loss"]
        terms["loss"] = self.label_weight * task_loss + self.kl_weight * kl
        terms["loss_task"], terms["loss_kl"] = task_loss.detach(), kl.detach()
        return terms
