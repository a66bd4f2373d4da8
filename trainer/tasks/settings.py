"""``TaskSettings``: the plain JSON-able values a task is built from, apart from the ``Task`` classes (which
import torch) so that the fine-tuning config and the registry's checks read its defaults without loading torch.

``TaskSettings`` is stored in every checkpoint (``trainer_state.json`` -> ``run.task``), so ``trainer.evaluate``
and ``trainer.predict`` rebuild the same task, head, labels and decoding from a checkpoint directory alone.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from trainer.data.qa_windows import DOC_STRIDE, MAX_LENGTH, MAX_QUERY_LENGTH

# How FILTER pairs an example with its translation (``filter["pair_by"]``; trainer/tasks/paired.py).
PAIR_BY = ("index", "id", "source_id")


@dataclass
class TaskSettings:
    name: str  # qa | ner | pair | absa
    head: str
    source_lang: str = "en"
    labels: list[str] = field(default_factory=list)  # tagging: tag labels; pair: class labels
    entity_types: list[str] = field(default_factory=list)  # ner (and absa tagging: the polarities)
    scheme: str = "BIOES"
    pair_task: str = "pawsx"
    max_length: int = MAX_LENGTH  # QA windows (trainer/data/qa_windows.py)
    doc_stride: int = DOC_STRIDE
    max_query_length: int = MAX_QUERY_LENGTH
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
    def from_dict(cls, values: dict) -> "TaskSettings":
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
