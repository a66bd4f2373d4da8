"""The fine-tuning tasks by name: one registered class per (task, head), like the pretraining objectives
(trainer/objectives/registry.py). Everything that lists tasks - the config's checks, the evaluate and
predict commands, FILTER and self-teaching - derives the list from here; and the task a checkpoint names is
built here (``load_finetuned``: the task, head weights and tokenizer of a fine-tuned model on disk).

Adding a task or a head is one ``Task`` subclass (trainer/tasks/base.py) in the module of its family, named in
the ``register_task`` line of its task below (the first class given is the task's default head), plus a config.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import torch
from torch import nn

from schemas.errors import InputDataError, UsageError
from schemas.registry import Registry
from trainer.loop.checkpoint import STATE_FILE, latest_complete_checkpoint, load_matching_heads, load_module_weights
from trainer.loop.train import CHECKPOINTS
from trainer.models.backbone import encoder_without_pooler
from trainer.models.loading import load_tokenizer_from
from trainer.tasks.absa import AbsaMRC
from trainer.tasks.base import Task, TaskSettings
from trainer.tasks.ner import NERMRC, AbsaTagging, NERTagging
from trainer.tasks.pair import AbsaPair, PairClassification, PairMRC
from trainer.tasks.paired import build_model, filter_ready
from trainer.tasks.qa import QAExtractor, QAQue, QAStartEnd

logger = logging.getLogger(__name__)

# Task name -> the registry of its heads (head name -> ``Task`` class), each with its default head named.
TASKS: Registry[Registry[type[Task]]] = Registry("task")


def register_task(name: str, summary: str, default: type[Task], *others: type[Task]) -> Registry[type[Task]]:
    """Task ``name`` with its heads: ``default`` is the head a config gets when it names none."""
    heads: Registry[type[Task]] = Registry(f"{name} head")
    for head_class in (default, *others):
        if head_class.name != name:
            raise ValueError(f"{head_class.__name__} is a {head_class.name} head, not one of {name}")
        heads.register(head_class.head, head_class, head_class.description, default=head_class is default)
    return TASKS.register(name, heads, summary)


register_task("qa", "extractive question answering (SQuAD JSON or mrc shards), scored by EM/F1",
              QAStartEnd, QAExtractor, QAQue)
register_task("ner", "named entities (CoNLL or tagged shards), scored by entity F1", NERTagging, NERMRC)
register_task("pair", "sentence-pair classification (PAWS-X, XNLI), scored by accuracy",
              PairClassification, PairMRC)
register_task("absa", "aspect terms and their polarities (SemEval XML), scored by span F1",
              AbsaMRC, AbsaTagging, AbsaPair)


def task_heads() -> dict[str, list[str]]:
    """Task name -> its heads, the default first."""
    return {name: [heads.default, *(head for head in heads if head != heads.default)] for name, heads in TASKS.items()}


def default_head(name: str) -> str:
    return TASKS[name].default


def _every_head() -> list[tuple[tuple[str, str], type[Task]]]:
    return [((name, head), task_class) for name, heads in TASKS.items() for head, task_class in heads.items()]


def filter_tasks() -> list[tuple[str, str]]:
    """The (task, head)s a FILTER model is wired for."""
    return [key for key, task_class in _every_head() if filter_ready(task_class)]


def self_teaching_tasks() -> list[tuple[str, str]]:
    """The (task, head)s that write and learn from teacher predictions."""
    return [key for key, task_class in _every_head() if task_class.soft_labels is not None]


def task_class(name: str, head: str) -> type[Task]:
    """The class of ``name``'s ``head``; ``UnknownNameError`` listing the tasks, or the task's heads."""
    return TASKS[name][head]


def build_task(settings: TaskSettings | dict) -> Task:
    """The task object of ``settings`` (a ``TaskSettings`` or its dict, as a checkpoint stores it)."""
    if isinstance(settings, dict):
        settings = TaskSettings.from_dict(settings)
    return task_class(settings.name, settings.head)(settings)


# ---- a fine-tuned model on disk ---------------------------------------------------------------------------

def resolve_checkpoint(directory: str | Path) -> Path:
    """A checkpoint directory itself, or the latest complete checkpoint of a run's output directory."""
    directory = Path(directory)
    if (directory / STATE_FILE).is_file() or (directory / "config.json").is_file():
        return directory
    latest = latest_complete_checkpoint(directory / CHECKPOINTS)
    if latest is None:
        raise FileNotFoundError(f"{directory}: neither a checkpoint nor a run directory with complete checkpoints")
    return latest


def stored_run(checkpoint: Path) -> dict:
    """What a checkpoint records of the run that wrote it (``trainer_state.json`` -> ``run``); {} if nothing."""
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
    checkpoint = resolve_checkpoint(directory)
    found = stored_task(checkpoint)
    if found is None:
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
    if stored_task(checkpoint) is not None:
        load_module_weights(checkpoint, model)  # strict: every head parameter must be there
    else:
        loaded, _ = load_matching_heads(model, checkpoint)
        logger.info("loaded head parameters %s from %s", loaded or "none", checkpoint)
    return found, model.to(device).eval(), tokenizer, checkpoint
