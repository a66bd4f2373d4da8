"""What every fine-tuning task is: ``Task``, the class one (task, head) subclasses, built from a
``TaskSettings`` (the plain JSON-able values of trainer/tasks/settings.py, imported here for its importers).

A ``Task`` subclass defines, for its task and head: how examples are read (``read``) and named
(``example_id``, ``example_lang``, ``texts``), the label set (``fit_labels``), the head (``build_head``), what
the batch stream holds and how it is collated (``training_items``), and how predictions are decoded and scored
(``score_language``) or written out (``predict``). Its class attributes say what the registry, the config
checks and self-teaching need to know: ``metrics``, ``primary_metric``, and ``soft_labels`` (the kind of
teacher predictions it can write and learn from, or None; its registry line says whether there is one, and is
checked against the class when the class is first imported). Generic code (evaluation over languages, FILTER,
reports) calls these methods and never asks which task it has.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Iterator, Sequence

import torch
from torch import nn

from trainer.loop.progress import labelled
from trainer.tasks.settings import TaskSettings

if TYPE_CHECKING:
    from trainer.data.readers import DataSource


@contextmanager
def evaluation_mode(model: nn.Module) -> Iterator[nn.Module]:
    """``model`` in eval mode for the block, then back in the mode it was in: periodic evaluation and a
    teacher's predictions run in the middle of training."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def model_inputs(batch: dict, device, drop: Sequence[str] = ()) -> dict:
    """The batch's tensors on ``device`` without the entries in ``drop`` (labels at prediction time)."""
    return {k: v.to(device) for k, v in batch.items() if isinstance(v, torch.Tensor) and k not in drop}


class Task:
    """One (task, head). Subclasses set ``name``, ``head``, ``metrics``, ``primary_metric`` and implement the
    methods below that raise ``NotImplementedError``; ``register_task`` (trainer/tasks/registry.py) makes
    them known by name."""

    name: ClassVar[str]
    head: ClassVar[str]
    metrics: ClassVar[tuple[str, ...]]
    primary_metric: ClassVar[str]
    soft_labels: ClassVar[str | None] = None  # self-teaching: "tagging", "classification", "qa"; None: none
    self_teaching_needs_filter: ClassVar[bool] = False  # a teacher's soft labels fit FILTER's one-window items only
    label_keys: ClassVar[tuple[str, ...]] = ("labels",)  # the batch entries that hold the labels

    def __init__(self, settings: TaskSettings):
        self.settings = settings

    # ---- data --------------------------------------------------------------------------------------------

    def read(self, source: DataSource) -> list:
        raise NotImplementedError

    def example_from_record(self, record: dict, lang: str, example_id: str):
        """An unlabelled example of raw input (a JSON object of ``trainer.predict``); KeyError names what is
        missing."""
        raise NotImplementedError(f"{self.name} reads no raw records")

    def example_id(self, example) -> str:
        return str(example["id"])

    def example_lang(self, example) -> str:
        return example["lang"]

    def texts(self, example) -> list[str]:
        """The text of an example (tokenizer training)."""
        raise NotImplementedError

    def fit_labels(self, examples: Sequence, entity_types: Sequence[str] | None = None) -> None:
        """Fix the label set from the training examples (or the configured types); most tasks have none."""

    def uses_training_labels(self) -> bool:
        """Whether the label set comes from the training data (so only a fine-tuned checkpoint knows it)."""
        return False

    # ---- model -------------------------------------------------------------------------------------------

    def prepare_tokenizer(self, tokenizer) -> None:
        """Add what the head needs to the vocabulary (the [QUE] token)."""

    def build_head(self, encoder) -> nn.Module:
        raise NotImplementedError

    def training_items(self, tokenizer, examples: Sequence) -> tuple[list, Callable[[list], dict]]:
        """What the batch stream holds (rows or featurised windows) and the collate function over them."""
        raise NotImplementedError

    def max_input_length(self) -> int:
        return self.settings.max_length

    # ---- read-out ----------------------------------------------------------------------------------------

    def score_language(self, model: nn.Module, tokenizer, examples: Sequence, batch_size: int) -> dict:
        """Metrics (percentages, plus ``count``) of one language's examples."""
        raise NotImplementedError

    def predict(self, model: nn.Module, tokenizer, examples: Sequence, batch_size: int) -> list[dict]:
        """One JSON-able prediction per example (``trainer.predict``), in order, each with the example's id."""
        raise NotImplementedError

    def score_and_predict_language(self, model: nn.Module, tokenizer, examples: Sequence,
                                   batch_size: int) -> tuple[dict, list[dict]]:
        """``score_language`` and ``predict`` of one language's examples. This default makes two passes over
        them; a task whose scoring decodes the same predictions (QA) overrides it with one."""
        return (self.score_language(model, tokenizer, examples, batch_size),
                self.predict(model, tokenizer, examples, batch_size))

    # ---- FILTER (tasks whose examples a FILTER model reads with their translation) -----------------------

    def example_collate(self, tokenizer) -> Callable[[list], dict]:
        """Collates examples themselves (one item per example), for FILTER's two streams and teachers."""
        raise NotImplementedError(f"{self.name}/{self.head} has no example-level collate (FILTER)")

    def labels_from_outputs(self, outputs: dict, batch: dict, examples: Sequence) -> list:
        """The predicted labels of ``examples`` from a FILTER model's target-stream outputs (``logits``, or
        ``start_logits``/``end_logits``)."""
        raise NotImplementedError(f"{self.name}/{self.head} does not decode FILTER logits")

    def score_labels(self, examples: Sequence, predicted: list) -> dict:
        raise NotImplementedError(f"{self.name}/{self.head} does not score FILTER predictions")

    # ---- generic -----------------------------------------------------------------------------------------

    def by_language(self, examples: Sequence) -> dict[str, list]:
        """Examples grouped by language: the source language first, then the others as the data gave them."""
        groups: dict[str, list] = {}
        for example in examples:
            groups.setdefault(self.example_lang(example), []).append(example)
        order = sorted(groups, key=lambda lang: lang != self.settings.source_lang)
        return {lang: groups[lang] for lang in order}

    @torch.no_grad()
    def evaluate(self, model: nn.Module, tokenizer, examples: Sequence, batch_size: int = 32) -> dict[str, dict]:
        """Metrics per language of ``examples`` (a single-stream model; FILTER: trainer/tasks/paired.py)."""
        scores = {}
        with evaluation_mode(model):
            for lang, rows in self.by_language(examples).items():
                with labelled(f"eval {lang}"):  # the progress of this language's passes
                    scores[lang] = self.score_language(model, tokenizer, rows, batch_size)
        return scores

    @torch.no_grad()
    def evaluate_with_predictions(self, model: nn.Module, tokenizer, examples: Sequence,
                                  batch_size: int = 32) -> tuple[dict[str, dict], list[dict]]:
        """``evaluate`` plus the prediction of every example (``predict``'s rows, language by language)."""
        scores, rows = {}, []
        with evaluation_mode(model):
            for lang, group in self.by_language(examples).items():
                with labelled(f"eval {lang}"):
                    scores[lang], predicted = self.score_and_predict_language(model, tokenizer, group, batch_size)
                rows += predicted
        return scores, rows

    def to_dict(self) -> dict:
        return self.settings.to_dict()

    def __getattr__(self, key: str) -> Any:
        # Settings read as attributes of the task (``task.labels``, ``task.max_length``).
        settings = self.__dict__.get("settings")
        if settings is not None and key in TaskSettings.__dataclass_fields__:
            return getattr(settings, key)
        raise AttributeError(key)
