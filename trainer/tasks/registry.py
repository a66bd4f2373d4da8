"""The fine-tuning tasks by name: one registered class per (task, head), like the pretraining objectives
(trainer/objectives/registry.py). Everything that lists tasks - the config's checks, the evaluate and
predict commands, FILTER and self-teaching - derives the list from here; and the task a checkpoint names is
built here (``load_finetuned``: the task, head weights and tokenizer of a fine-tuned model on disk).

Adding a task or a head is one ``Task`` subclass (trainer/tasks/base.py) in the module of its family, named in
the ``register_task`` line of its task below (the first head given is the task's default), plus a config.

A head is registered by reference (``"trainer.tasks.qa:QAStartEnd"``) with what the command lines and config
checks ask of it - its summary, whether FILTER is wired for it, whether it learns from soft labels - so that
listing and checking tasks imports no task module, hence no torch (``--help`` and a config error answer at
once). The class is imported when it is first used, and checked then against what its line says.
"""
from __future__ import annotations

import importlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from schemas.errors import InputDataError, UsageError
from schemas.registry import Registry
from trainer.tasks.settings import TaskSettings

# What imports torch is imported where a model is built or loaded.
if TYPE_CHECKING:
    import torch
    from torch import nn

    from trainer.tasks.base import Task

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TaskHead:
    """One (task, head): the ``module:Class`` of its ``Task`` subclass and what the checks need without it."""

    task: str
    head: str
    reference: str  # "trainer.tasks.qa:QAStartEnd"
    filter: bool = False  # a FILTER model is wired for it (the class implements ``example_collate``)
    self_teaching: bool = False  # it writes and learns from teacher predictions (``soft_labels``)
    self_teaching_needs_filter: bool = False  # its teacher's soft labels fit FILTER's one-window items only

    def load(self) -> type[Task]:
        """The ``Task`` class, imported now; a ``ValueError`` (a bug) where it says otherwise than its line."""
        module, _, name = self.reference.partition(":")
        found = getattr(importlib.import_module(module), name)
        from trainer.tasks.paired import filter_ready

        declared = (self.task, self.head, self.filter, self.self_teaching, self.self_teaching_needs_filter)
        actual = (found.name, found.head, filter_ready(found), found.soft_labels is not None,
                  found.self_teaching_needs_filter)
        if declared != actual:
            raise ValueError(f"{self.reference} is (task, head, filter, self_teaching, self_teaching_needs_filter) "
                             f"{actual}, but its registry line says {declared}")
        return found


# Task name -> the registry of its heads (head name -> ``TaskHead``), each with its default head named.
TASKS: Registry[Registry[TaskHead]] = Registry("task")


def register_task(name: str, summary: str, heads: dict[str, tuple[str, str, dict]]) -> Registry[TaskHead]:
    """Task ``name`` with its heads: head name -> (``module:Class``, one-line summary, ``TaskHead`` flags); the
    first head is the one a config gets when it names none."""
    registry: Registry[TaskHead] = Registry(f"{name} head")
    for index, (head, (reference, head_summary, flags)) in enumerate(heads.items()):
        registry.register(head, TaskHead(name, head, reference, **flags), head_summary, default=index == 0)
    return TASKS.register(name, registry, summary)


# The heads that FILTER is wired for are also those that learn from a teacher's soft labels.
FILTER_AND_TEACHING = {"filter": True, "self_teaching": True}
register_task("qa", "extractive question answering (SQuAD JSON or mrc shards), scored by EM/F1", {
    "start_end": ("trainer.tasks.qa:QAStartEnd", "start/end logits over the context (BERT's SQuAD head)",
                  {**FILTER_AND_TEACHING, "self_teaching_needs_filter": True}),
    "extractor": ("trainer.tasks.qa:QAExtractor",
                  "mPMR's span extractor: S_ij over context spans, S_00 relevance per window", {}),
    "que": ("trainer.tasks.qa:QAQue", "CLISM's [QUE] head: start/end from the [QUE] token's state", {})})
register_task("ner", "named entities (CoNLL or tagged shards), scored by entity F1", {
    "tagging": ("trainer.tasks.ner:NERTagging",
                "a softmax over BIOES/BIO tags on each word's first subword, Viterbi-constrained decoding",
                FILTER_AND_TEACHING),
    "mrc": ("trainer.tasks.ner:NERMRC", "mPMR's extractor over one query per entity type (paper 001 Table 6)", {})})
register_task("pair", "sentence-pair classification (PAWS-X, XNLI), scored by accuracy", {
    "classifier": ("trainer.tasks.pair:PairClassification", "a classifier on the [CLS] state", FILTER_AND_TEACHING),
    "mrc": ("trainer.tasks.pair:PairMRC", "mPMR's extractor over one query per label (paper 001 Table 6)", {})})
register_task("absa", "aspect terms and their polarities (SemEval XML), scored by span F1", {
    "mrc": ("trainer.tasks.absa:AbsaMRC", "mPMR's extractor over one query per polarity (paper 001 Table 6)", {}),
    "tagging": ("trainer.tasks.ner:AbsaTagging", "a tagger over BIOES polarity tags of the aspect terms (paper 002)",
                FILTER_AND_TEACHING),
    "pair": ("trainer.tasks.pair:AbsaPair", "(sentence, aspect term) pairs classified by polarity",
             FILTER_AND_TEACHING)})


def task_heads() -> dict[str, list[str]]:
    """Task name -> its heads, the default first."""
    return {name: [heads.default, *(head for head in heads if head != heads.default)] for name, heads in TASKS.items()}


def default_head(name: str) -> str:
    return TASKS[name].default


def task_head(name: str, head: str) -> TaskHead:
    """What the registry says of ``name``'s ``head``; ``UnknownNameError`` listing the tasks, or the task's heads."""
    return TASKS[name][head]


def filter_tasks() -> list[tuple[str, str]]:
    """The (task, head)s a FILTER model is wired for."""
    return [(spec.task, spec.head) for heads in TASKS.names() for spec in _heads(heads) if spec.filter]


def self_teaching_tasks() -> list[tuple[str, str]]:
    """The (task, head)s that write and learn from teacher predictions."""
    return [(spec.task, spec.head) for heads in TASKS.names() for spec in _heads(heads) if spec.self_teaching]


def _heads(name: str) -> list[TaskHead]:
    return [spec for _, spec in TASKS[name].items()]


def task_class(name: str, head: str) -> type[Task]:
    """The class of ``name``'s ``head`` (its module imported now); ``UnknownNameError`` as ``task_head``."""
    return task_head(name, head).load()


def build_task(settings: TaskSettings | dict) -> Task:
    """The task object of ``settings`` (a ``TaskSettings`` or its dict, as a checkpoint stores it)."""
    if isinstance(settings, dict):
        settings = TaskSettings.from_dict(settings)
    return task_class(settings.name, settings.head)(settings)


# ---- a fine-tuned model on disk ---------------------------------------------------------------------------

def resolve_checkpoint(directory: str | Path) -> Path:
    """A checkpoint directory itself, or the latest complete checkpoint of a run's output directory."""
    from trainer.loop.checkpoint import STATE_FILE, latest_complete_checkpoint
    from trainer.loop.train import CHECKPOINTS

    directory = Path(directory)
    if (directory / STATE_FILE).is_file() or (directory / "config.json").is_file():
        return directory
    latest = latest_complete_checkpoint(directory / CHECKPOINTS)
    if latest is None:
        raise FileNotFoundError(f"{directory}: neither a checkpoint nor a run directory with complete checkpoints")
    return latest


def stored_run(checkpoint: Path) -> dict:
    """What a checkpoint records of the run that wrote it (``trainer_state.json`` -> ``run``); {} if nothing."""
    from trainer.loop.checkpoint import STATE_FILE

    state_file = checkpoint / STATE_FILE
    if not state_file.is_file():
        return {}
    return json.loads(state_file.read_text(encoding="utf-8")).get("run", {})


def stored_task(checkpoint: Path) -> Task | None:
    settings = stored_run(checkpoint).get("task")
    return build_task(settings) if settings else None


def load_finetuned(directory: str | Path, task: str | None = None, head: str | None = None,
                   device: torch.device | str = "cpu") -> tuple[Task, nn.Module, object, Path]:
    """``(task, model, tokenizer, checkpoint)`` of a fine-tuned checkpoint (or a plain encoder directory with
    ``task``/``head`` given: head parameters are then loaded where their names match)."""
    from trainer.loop.checkpoint import load_matching_heads, load_module_weights
    from trainer.models.backbone import encoder_without_pooler
    from trainer.models.loading import load_tokenizer_from
    from trainer.tasks.paired import build_model

    checkpoint = resolve_checkpoint(directory)
    found = stored_task(checkpoint)
    recorded = found is not None
    if not recorded:
        if task is None:
            raise UsageError(f"{checkpoint} records no task (not a trainer.finetune checkpoint): pass --task and "
                             "--head")
        found = build_task(TaskSettings(name=task, head=head or default_head(task)))
        found.fit_labels([])  # tasks whose labels are fixed by name (pair); the others need training data
        if found.uses_training_labels():
            raise InputDataError(f"{checkpoint} records no task, and a {task} head needs the label set a "
                                 "trainer.finetune checkpoint records: use one")
    else:
        for given, stored, what in ((task, found.name, "task"), (head, found.head, "head")):
            if given is not None and given != stored:
                raise UsageError(f"{checkpoint} holds a {what} {stored!r} model, not {given!r} (--{what})")
    tokenizer = load_tokenizer_from(checkpoint)
    model = build_model(found, encoder_without_pooler(str(checkpoint)))
    if recorded:
        load_module_weights(checkpoint, model)  # strict: every head parameter must be there
    else:
        loaded, _ = load_matching_heads(model, checkpoint)
        logger.info("loaded head parameters %s from %s", loaded or "none", checkpoint)
    return found, model.to(device).eval(), tokenizer, checkpoint
