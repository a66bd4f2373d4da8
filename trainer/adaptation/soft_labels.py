"""FILTER's self-teaching (paper 004, Algorithm 1 and eq. 6): a teacher's soft predictions, stored and reused.

A trained teacher FILTER predicts on the translated (target-language) training text; its predictions are kept,
fixed, and a student FILTER trains with ``L = L^s + λ L^t + (1 - λ) L^kl`` where ``L^kl`` is the KL divergence
from the teacher's to the student's distribution on the target stream. The weight of the KL term is 1.0 for
tagging (no target labels, λ = 0), 0.5 for classification and 0.1 for QA (paper 004, "Implementation
Details"). A distillation temperature T (Hinton et al. 2015, which paper 004 cites) softens both distributions;
the term is ``KL(softmax(teacher/T) ‖ softmax(student/T)) · T²`` so its gradient scale does not depend on T.
T = 1 (the default) is the paper's plain KL.

Distributions:
- classification: over the labels, one per example;
- tagging: over the labels, one per token of the target stream (tokens outside ``mask`` are skipped);
- QA: over the positions of the target stream, one for the answer start and one for the end (positions outside
  ``mask``, e.g. padding, are excluded from the softmax); the term is the mean of the two.

Storage: the teacher's logits (not probabilities, so any temperature can be applied later) go to one Parquet file
per teacher, one row per example id, written with pyarrow directly. Column types by task: classification
``logits: list<float32>``; tagging ``logits: list<list<float32>>`` (token x label); QA ``start_logits`` and
``end_logits: list<float32>``. The file's schema metadata records the task, the number of labels and the label
names. Token-level logits are for the target stream's tokens as the teacher's collator made them (padding cut
off), so the student must tokenise the same text with the same tokenizer; ``TeacherPredictions.batch`` checks
the lengths it can.

"Beside the data": ``teacher_predictions_path(dataset_dir, name)`` is ``<dataset_dir>/_soft_labels/<name>.parquet``:
inside the dataset directory, in a subfolder whose name starts with ``_``: a ``.parquet`` file next to the shards
would not be listed in the manifest, and pandas, pyarrow, DuckDB and Spark skip ``_`` folders when they open the
dataset by its folder (a ``soft_labels/`` folder would be read as more shards of another schema).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from schemas.errors import InputDataError
from trainer.models.distillation import TASKS

_METADATA_KEY = b"polyspan.self_teaching"


def _check_task(task: str) -> str:
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; known: {', '.join(TASKS)}")
    return task


# ------------------------------------------------------------------------------------------------ the KL term


# -------------------------------------------------------------------------------------------------- storage

SOFT_LABELS_DIR = "_soft_labels"

def teacher_predictions_path(dataset_dir: str | os.PathLike, name: str = "teacher") -> Path:
    """Where a teacher's predictions for a dataset live: ``<dataset_dir>/_soft_labels/<name>.parquet``."""
    return Path(dataset_dir) / SOFT_LABELS_DIR / f"{name}.parquet"


def teacher_schema(task: str) -> pa.Schema:
    _check_task(task)
    floats = pa.list_(pa.float32())
    columns = {"classification": [("logits", floats)],
               "tagging": [("logits", pa.list_(floats))],
               "qa": [("start_logits", floats), ("end_logits", floats)]}[task]
    return pa.schema([pa.field("id", pa.string(), nullable=False)]
                     + [pa.field(name, type_, nullable=False) for name, type_ in columns])


def rows_from_outputs(task: str, ids: Sequence[str], outputs: Mapping[str, torch.Tensor],
                      mask: torch.Tensor | None = None) -> list[dict]:
    """Rows for ``write_teacher_predictions`` from one batch of a teacher's outputs on the target stream; token
    and position logits are cut to the tokens where ``mask`` is 1 (it must be a prefix: right padding)."""
    _check_task(task)
    if task == "classification":
        logits = outputs["logits"].detach().float().cpu()
        return [{"id": str(i), "logits": row.tolist()} for i, row in zip(ids, logits)]
    if mask is None:
        raise ValueError(f"{task}: rows_from_outputs needs the target stream's attention mask")
    lengths = mask.long().sum(dim=1).tolist()
    rows = []
    for n, (example_id, length) in enumerate(zip(ids, lengths)):
        if task == "tagging":
            rows.append({"id": str(example_id), "logits": outputs["logits"][n, :length].detach().float().cpu().tolist()})
        else:
            rows.append({"id": str(example_id),
                         "start_logits": outputs["start_logits"][n, :length].detach().float().cpu().tolist(),
                         "end_logits": outputs["end_logits"][n, :length].detach().float().cpu().tolist()})
    return rows


def write_teacher_predictions(path: str | os.PathLike, task: str, rows: Iterable[Mapping],
                              label_names: Sequence[str] | None = None, info: Mapping | None = None) -> Path:
    """Writes rows (``id`` plus the task's logit columns) to ``path`` (atomically: a temporary name, then a
    rename). Duplicate ids are an error."""
    schema = teacher_schema(task)
    rows = list(rows)
    ids = [str(row["id"]) for row in rows]
    if len(set(ids)) != len(ids):
        duplicate = next(i for i in ids if ids.count(i) > 1)
        raise InputDataError(f"{path}: example id {duplicate!r} appears more than once")
    num_labels = None
    if task != "qa" and rows:
        first = rows[0]["logits"]
        num_labels = len(first) if task == "classification" else (len(first[0]) if first else None)
    metadata = {"task": task, "num_labels": num_labels, "label_names": list(label_names or []),
                "info": dict(info or {})}
    table = pa.Table.from_pylist([{name: row[name] if name != "id" else str(row["id"]) for name in schema.names}
                                  for row in rows], schema=schema)
    table = table.replace_schema_metadata({_METADATA_KEY: json.dumps(metadata).encode("utf-8")})
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    pq.write_table(table, temporary)
    os.replace(temporary, path)
    return path


@dataclass
class TeacherPredictions:
    """A teacher's stored logits, looked up by example id."""

    path: Path
    task: str
    label_names: list[str]
    num_labels: int | None
    info: dict
    _index: dict[str, int]
    _columns: dict[str, list]

    @classmethod
    def load(cls, path: str | os.PathLike) -> "TeacherPredictions":
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no teacher predictions (write them with write_teacher_predictions)")
        try:
            table = pq.read_table(path)
        except (pa.ArrowException, OSError) as err:  # pyarrow's message names no file
            raise InputDataError(f"{path}: not a readable Parquet file ({err})") from None
        raw = (table.schema.metadata or {}).get(_METADATA_KEY)
        if raw is None:
            raise InputDataError(f"{path}: not a teacher-predictions file (no {_METADATA_KEY.decode()} metadata)")
        metadata = json.loads(raw)
        task = _check_task(metadata["task"])
        expected = teacher_schema(task)
        missing = [name for name in expected.names if name not in table.schema.names]
        if missing:
            raise InputDataError(f"{path}: columns {missing} missing for task {task!r}")
        ids = table.column("id").to_pylist()
        columns = {name: table.column(name).to_pylist() for name in expected.names if name != "id"}
        return cls(path, task, metadata.get("label_names", []), metadata.get("num_labels"),
                   metadata.get("info", {}), {example_id: n for n, example_id in enumerate(ids)}, columns)

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, example_id: str) -> bool:
        return str(example_id) in self._index

    def get(self, example_id: str) -> dict[str, np.ndarray]:
        """The stored logits of one example as float32 arrays, by column name."""
        row = self._index.get(str(example_id))
        if row is None:
            raise KeyError(f"{self.path}: no teacher prediction for example id {example_id!r}")
        return {name: np.asarray(values[row], dtype=np.float32) for name, values in self._columns.items()}

    def batch(self, ids: Sequence[str], seq_len: int | None = None, lengths: Sequence[int] | None = None,
              device: torch.device | str = "cpu") -> tuple[dict[str, torch.Tensor], torch.Tensor | None]:
        """Padded teacher logits for a student batch, and the ``[B, seq_len]`` mask of positions the teacher
        covers (None for classification). ``seq_len``: the student batch's padded length (tagging/QA);
        ``lengths``: the student's unpadded lengths, checked against the teacher's when given."""
        rows = [self.get(example_id) for example_id in ids]
        if self.task == "classification":
            return {"logits": torch.tensor(np.stack([r["logits"] for r in rows]), device=device)}, None
        if seq_len is None:
            raise ValueError(f"{self.path}: token-level teacher predictions need the batch's seq_len")
        key = "logits" if self.task == "tagging" else "start_logits"
        teacher_lengths = [len(r[key]) for r in rows]
        for example_id, length, n in zip(ids, teacher_lengths, lengths or teacher_lengths):
            if length > seq_len or length != n:
                raise ValueError(f"{self.path}: example {example_id!r} has {length} teacher positions, the student "
                                 f"batch {n} (padded to {seq_len}); were both tokenised the same way?")
        mask = torch.zeros((len(rows), seq_len), dtype=torch.bool)
        for n, length in enumerate(teacher_lengths):
            mask[n, :length] = True
        out = {}
        names = ["logits"] if self.task == "tagging" else ["start_logits", "end_logits"]
        trailing: tuple[int, ...] = ()
        if self.task == "tagging":
            trailing = (self.num_labels or next((r["logits"].shape[1] for r in rows if r["logits"].size), 1),)
        for name in names:
            padded = np.zeros((len(rows), seq_len) + trailing, dtype=np.float32)
            for n, row in enumerate(rows):
                if row[name].size:
                    padded[n, :len(row[name])] = row[name]
            out[name] = torch.tensor(padded, device=device)
        return out, mask.to(device)
