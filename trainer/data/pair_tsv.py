"""Sentence-pair TSV files (PAWS-X, XNLI) read into rows ``{id, lang, sentence1, sentence2, label}``.

The released layouts: PAWS-X ``id, sentence1, sentence2, label`` (labels 0/1), XNLI-1.0's
``xnli.{dev,test}.tsv`` (``language``, ``gold_label``, ``sentence1``, ``sentence2``, ``pairID`` among other
columns), XNLI-MT's ``premise, hypo, label`` (``contradictory`` for contradiction), and the headerless
files XTREME writes (``sentence1, sentence2, label``, or with a leading id). Quotes are ordinary characters
(the texts contain unbalanced ones). A line with the wrong number of fields or an unknown label is an error
naming the file and line; a pair with an empty sentence (PAWS-X's translated sets have some) is skipped and
counted.
"""
from __future__ import annotations

import csv
import os
from dataclasses import dataclass, fields

from schemas.errors import UserError

PAWSX_LABELS = ("0", "1")  # 0: not a paraphrase, 1: paraphrase
XNLI_LABELS = ("entailment", "neutral", "contradiction")
TASK_LABELS = {"pawsx": PAWSX_LABELS, "xnli": XNLI_LABELS}


_LABEL_ALIASES = {"contradictory": "contradiction"}  # XNLI-MT's spelling


# Header names of each field in the released files.
_COLUMNS = {
    "sentence1": ("sentence1", "premise"),
    "sentence2": ("sentence2", "hypo", "hypothesis"),
    "label": ("label", "gold_label"),
    "id": ("id", "pairid"),
    "language": ("language", "lang"),
}


class PairDataError(UserError, ValueError):
    """Malformed pair-classification input; the message names the file and line."""


@dataclass
class PairReadStats:
    pairs: int = 0
    skipped_empty: int = 0

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def read_pair_tsv(path: str | os.PathLike, task: str, lang: str | None = None,
                  stats: PairReadStats | None = None) -> list[dict]:
    """Rows ``{"id", "lang", "sentence1", "sentence2", "label"}`` of a PAWS-X or XNLI TSV file; ``lang``
    comes from the file's ``language`` column when it has one."""
    if task not in TASK_LABELS:
        raise ValueError(f"unknown pair task {task!r}; known: {', '.join(TASK_LABELS)}")
    labels = TASK_LABELS[task]
    stats = stats if stats is not None else PairReadStats()
    where = os.fspath(path)
    with open(path, encoding="utf-8", newline="") as handle:
        lines = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        try:
            first = next(lines)
        except StopIteration:
            raise PairDataError(f"{where}: empty file") from None
        except UnicodeDecodeError as err:
            raise PairDataError(f"{where}:1: not valid UTF-8 ({err.reason})") from None
        columns = _header_columns(first)
        if columns is None:  # headerless (XTREME's layout)
            width = len(first)
            if width == 3:
                columns = {"sentence1": 0, "sentence2": 1, "label": 2}
            elif width == 4:
                columns = {"id": 0, "sentence1": 1, "sentence2": 2, "label": 3}
            else:
                raise PairDataError(f"{where}:1: no header and {width} fields; expected 3 (sentence1, "
                                    "sentence2, label) or 4 (id, sentence1, sentence2, label)")
            pending = [(1, first)]
        else:
            width = len(first)
            pending = []
        rows = []
        number = 1
        try:
            for number, fields_ in [*pending, *((n, f) for n, f in enumerate(lines, start=2))]:
                if not fields_ or fields_ == [""]:
                    continue
                if len(fields_) != width:
                    raise PairDataError(f"{where}:{number}: {len(fields_)} fields, expected {width}")
                label = fields_[columns["label"]].strip()
                label = _LABEL_ALIASES.get(label, label)
                if label not in labels:
                    raise PairDataError(f"{where}:{number}: label {label!r} is not one of {', '.join(labels)}")
                sentence1, sentence2 = fields_[columns["sentence1"]].strip(), fields_[columns["sentence2"]].strip()
                if not sentence1 or not sentence2:
                    stats.skipped_empty += 1
                    continue
                row_lang = fields_[columns["language"]] if "language" in columns else lang
                if not row_lang:
                    raise PairDataError(f"{where}:{number}: no language column; pass lang")
                pair_id = fields_[columns["id"]] if "id" in columns else f"{os.path.basename(where)}:{number}"
                rows.append({"id": f"{row_lang}-{pair_id}", "lang": row_lang, "sentence1": sentence1,
                             "sentence2": sentence2, "label": label})
                stats.pairs += 1
        except UnicodeDecodeError as err:
            raise PairDataError(f"{where}: after line {number}: not valid UTF-8 ({err.reason})") from None
    return rows


def _header_columns(first: list[str]) -> dict[str, int] | None:
    names = [name.strip().lower() for name in first]
    columns = {}
    for field_name, aliases in _COLUMNS.items():
        for alias in aliases:
            if alias in names:
                columns[field_name] = names.index(alias)
                break
    if {"sentence1", "sentence2", "label"} <= set(columns):
        return columns
    return None
