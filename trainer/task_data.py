"""Fine-tuning inputs: reading task files per language, and finite batch streams the loop can resume.

Readers turn one data entry (``DataSource``: a path plus encoding, limit and format) into examples:

- QA: SQuAD v1.1 JSON (XQuAD, MLQA, TyDi QA GoldP; ``trainer.qa_data.read_squad_json``) or a directory of
  ``mrc`` shards -> ``QAExample``s;
- NER: a CoNLL file (``schemas.conll.read_conll``: any encoding, IOB1/BIO/BIOES) or a directory of ``tagged``
  shards (``pipelines.project_labels`` output) -> rows ``{"id", "lang", "tokens", "tags"}``;
- sentence pairs: PAWS-X / XNLI TSV (``trainer.pair_tasks.read_pair_tsv``) -> pair rows.

``skip`` and ``limit`` keep a slice of a file: N examples after the first ``skip`` (tests, smoke runs, a
held-out part of one file).

``ExampleBatches`` is the finite, resumable stream: items (rows or already featurised windows) held in memory,
shuffled per epoch by a generator seeded with (seed, epoch) - never by process state - cut into batches, each
rank taking every world_size-th batch. Its position (epoch, batches taken) is what the loop stores in a
checkpoint, so a resumed run draws exactly the batches the interrupted one would have drawn.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np

from schemas import open_dataset
from schemas.conll import read_conll
from trainer.pair_tasks import read_pair_tsv
from trainer.qa_data import QAExample, read_squad_json

FORMATS = ("auto", "squad", "mrc", "conll", "tagged", "tsv")


@dataclass
class DataSource:
    """One data entry of the config: a file or dataset directory of one language."""

    lang: str
    path: str
    encoding: str = "utf-8"
    limit: int | None = None
    format: str = "auto"
    skip: int = 0  # examples skipped at the beginning of the file (before ``limit``)

    @classmethod
    def parse(cls, lang: str, value: Any, default_limit: int | None = None, where: str = "data") -> "DataSource":
        """A path string, or a mapping with ``path`` and optionally ``encoding``, ``limit``, ``skip``,
        ``format``."""
        if isinstance(value, (str, os.PathLike)):
            return cls(lang, os.fspath(value), limit=default_limit)
        if isinstance(value, Mapping) and "path" in value:
            unknown = sorted(set(value) - {"path", "encoding", "limit", "skip", "format"})
            if unknown:
                raise ValueError(f"{where}.{lang}: unknown key {unknown[0]!r} (known: path, encoding, limit, skip, "
                                 "format)")
            fmt = str(value.get("format", "auto"))
            if fmt not in FORMATS:
                raise ValueError(f"{where}.{lang}.format must be one of {', '.join(FORMATS)}, not {fmt!r}")
            limit = value.get("limit", default_limit)
            return cls(lang, os.fspath(value["path"]), str(value.get("encoding", "utf-8")),
                       None if limit is None else int(limit), fmt, int(value.get("skip", 0)))
        raise ValueError(f"{where}.{lang}: expected a path or a mapping with 'path', got {value!r}")

    def resolved_format(self) -> str:
        """The format named, or the one the path suggests (a dataset directory: its manifest's kind)."""
        if self.format != "auto":
            return self.format
        path = Path(self.path)
        if path.is_dir():
            if not (path / "manifest.json").is_file():
                raise FileNotFoundError(f"{self.path}: a directory without manifest.json is no dataset")
            return _dataset_kind(self.path)
        if not path.is_file():
            raise FileNotFoundError(f"{self.path} not found (data for language {self.lang!r})")
        suffix = path.suffix.lower()
        if suffix == ".json":
            return "squad"
        if suffix == ".tsv":
            return "tsv"
        return "conll"


def parse_sources(entries: Mapping[str, Any], default_limit: int | None = None,
                  where: str = "data") -> list[DataSource]:
    return [DataSource.parse(lang, value, default_limit, where) for lang, value in entries.items()]


def _dataset_kind(directory: str) -> str:
    return open_dataset(directory).kind.name


def _limited(items: Iterator, limit: int | None, skip: int = 0) -> list:
    out = []
    for n, item in enumerate(items):
        if n < skip:
            continue
        if limit is not None and len(out) >= limit:
            break
        out.append(item)
    return out


def read_qa(source: DataSource) -> list[QAExample]:
    """QA examples of a SQuAD-format file or an ``mrc`` dataset directory."""
    fmt = source.resolved_format()
    if fmt == "squad":
        return _limited(iter(read_squad_json(source.path, lang=source.lang)), source.limit, source.skip)
    if fmt == "mrc":
        rows = open_dataset(source.path, kind="mrc").iter_rows(columns=["id", "lang", "query", "context", "answers"])
        return _limited((QAExample(row["id"], row["lang"] or source.lang, row["query"], row["context"],
                                   [dict(a) for a in row["answers"]], source=source.path) for row in rows),
                        source.limit, source.skip)
    raise ValueError(f"{source.path}: a QA task reads SQuAD JSON or mrc shards, not {fmt}")


def read_sentences(source: DataSource) -> list[dict]:
    """Tagged sentences ``{"id", "lang", "tokens", "tags"}`` of a CoNLL file or a ``tagged`` dataset directory.
    CoNLL tags are read as written (any scheme: featurizers and metrics convert with conlleval's rules); a
    CoNLL sentence's id is ``<file name>:<sentence index>``, so parallel files (Europarl) pair up by index."""
    fmt = source.resolved_format()
    if fmt == "conll":
        name = Path(source.path).name
        sentences = read_conll(source.path, encoding=source.encoding, tag_scheme=None)
        return _limited(({"id": f"{name}:{s.index}", "lang": source.lang, "tokens": list(s.tokens),
                          "tags": list(s.tags)} for s in sentences), source.limit, source.skip)
    if fmt == "tagged":
        rows = open_dataset(source.path, kind="tagged").iter_rows(
            columns=["id", "lang", "tokens", "tags", "source_id"])
        # source_id: the labelled source sentence the tags were projected from (FILTER pairs by it).
        return _limited(({"id": row["id"], "lang": row["lang"] or source.lang, "tokens": list(row["tokens"]),
                          "tags": list(row["tags"]), "source_id": row["source_id"]} for row in rows),
                        source.limit, source.skip)
    raise ValueError(f"{source.path}: an NER task reads CoNLL files or tagged shards, not {fmt}")


def read_pair_rows(source: DataSource, pair_task: str) -> list[dict]:
    fmt = source.resolved_format()
    if fmt not in ("tsv", "conll"):  # any non-JSON file is tried as TSV
        raise ValueError(f"{source.path}: a pair task reads PAWS-X/XNLI TSV files, not {fmt}")
    rows = read_pair_tsv(source.path, pair_task, lang=source.lang)
    # XNLI's dev/test files hold every language: keep the one asked for.
    rows = [row for row in rows if row["lang"] == source.lang] or rows
    return _limited(iter(rows), source.limit, source.skip)


def read_sentences_file(path: str | os.PathLike, limit: int | None = None) -> list[str]:
    """Non-empty lines of a text file (MLM memories): one sentence per line."""
    with open(path, encoding="utf-8") as handle:
        lines = [line.strip() for line in handle]
    sentences = [line for line in lines if line]
    if not sentences:
        raise ValueError(f"{path}: no sentence (one per line expected)")
    return sentences[:limit] if limit is not None else sentences


# ---------------------------------------------------------------------------------------------------------
# Finite, resumable batch streams

class ExampleBatches:
    """Batches over in-memory ``items`` for the training loop: one pass is one epoch; ``set_epoch`` (called by
    the loop when a pass ends) reshuffles. ``state_dict``/``load_state_dict`` carry the position.

    Every rank sees the same global order and takes batches ``rank, rank + world_size, ...``; the batches per
    epoch are cut to a multiple of ``world_size`` so ranks step together."""

    def __init__(self, items: Sequence, batch_size: int, collate: Callable[[list], dict], *, seed: int = 0,
                 shuffle: bool = True, drop_last: bool = False, rank: int = 0, world_size: int = 1):
        if batch_size < 1:
            raise ValueError(f"batch size must be at least 1, got {batch_size}")
        self.items, self.batch_size, self.collate = list(items), batch_size, collate
        self.seed, self.shuffle, self.drop_last = seed, shuffle, drop_last
        self.rank, self.world_size = rank, world_size
        self.epoch = 0
        self.position = 0  # batches of this rank taken in the current epoch
        if len(self) == 0:
            raise ValueError(f"{len(self.items)} examples make no batch of {batch_size} for {world_size} rank(s)")

    def _global_batches(self) -> int:
        full, rest = divmod(len(self.items), self.batch_size)
        return full + (1 if rest and not self.drop_last else 0)

    def __len__(self) -> int:
        return self._global_batches() // self.world_size

    def order(self, epoch: int) -> list[int]:
        if not self.shuffle:
            return list(range(len(self.items)))
        return np.random.default_rng([self.seed, epoch]).permutation(len(self.items)).tolist()

    def __iter__(self) -> Iterator[dict]:
        order = self.order(self.epoch)
        for local in range(self.position, len(self)):
            start = (local * self.world_size + self.rank) * self.batch_size
            chunk = [self.items[i] for i in order[start:start + self.batch_size]]
            self.position = local + 1
            yield self.collate(chunk)

    def set_epoch(self, epoch: int) -> None:
        self.epoch, self.position = epoch, 0

    def state_dict(self) -> dict:
        epoch, position = self.epoch, self.position
        if position >= len(self):  # the epoch was used up: the next draw starts the next one
            epoch, position = epoch + 1, 0
        return {"epoch": epoch, "position": position, "items": len(self.items)}

    def load_state_dict(self, state: dict) -> None:
        if state.get("items", len(self.items)) != len(self.items):
            raise ValueError(f"the checkpoint's data position is over {state['items']} training items, this run "
                             f"has {len(self.items)}: not the same training data")
        self.epoch, self.position = int(state["epoch"]), int(state["position"])
        if self.position >= len(self):
            self.epoch, self.position = self.epoch + 1, 0


def endless(batches: ExampleBatches) -> Iterator[dict]:
    """Epoch after epoch of ``batches`` (MTL-WS's inner steps draw more batches than one pass holds)."""
    while True:
        yield from batches
        batches.set_epoch(batches.epoch + 1)
