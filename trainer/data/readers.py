"""Fine-tuning inputs: one data entry of a config (``DataSource``: a path plus encoding, limit and format) read
into the examples of a task family.

- QA: a directory of ``mrc`` shards, or SQuAD v1.1 JSON (XQuAD, MLQA, TyDi QA GoldP; ``trainer.data.squad``)
  -> ``QAExample``s;
- NER: a directory of ``tagged`` shards (``pipelines.project_labels``, ``pipelines.import_conll``) or a CoNLL
  file (``schemas.conll.read_conll``: any encoding, IOB1/BIO/BIOES) -> rows ``{"id", "lang", "tokens", "tags"}``;
- sentence pairs: PAWS-X / XNLI TSV (``trainer.data.pair_tsv``) -> pair rows;
- ABSA: SemEval XML (``trainer.data.semeval``) -> sentences with aspect spans and polarities;
- line-parallel text files (XSR memories and probes) and one-sentence-per-line files (MLM memories).

Raw files are the trainer's one exception to "shards only" (ARCHITECTURE.md, "The data contract"): the
released evaluation sets are read as their authors publish them, so scores compare with published ones.

``skip`` and ``limit`` keep a slice of a file: N examples after the first ``skip`` (tests, smoke runs, a
held-out part of one file).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

from schemas.errors import InputDataError
from schemas import open_dataset
from schemas.conll import read_conll
from schemas.layout import LEGACY_MANIFEST, MANIFEST
from trainer.data.pair_tsv import read_pair_tsv
from trainer.data.semeval import read_semeval_xml
from trainer.data.squad import QAExample, read_squad_json

FORMATS = ("auto", "squad", "mrc", "conll", "tagged", "tsv", "semeval")


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
                raise InputDataError(f"{where}.{lang}: unknown key {unknown[0]!r} (known: path, encoding, limit, skip, "
                                      "format)")
            # Only the keys given are passed: the defaults are the fields' own.
            given = {key: convert(value[key]) for key, convert in (("encoding", str), ("format", str), ("skip", int))
                     if key in value}
            limit = value.get("limit", default_limit)
            source = cls(lang, os.fspath(value["path"]), limit=None if limit is None else int(limit), **given)
            if source.format not in FORMATS:
                raise InputDataError(f"{where}.{lang}.format must be one of {', '.join(FORMATS)}, not "
                                     f"{source.format!r}")
            return source
        raise InputDataError(f"{where}.{lang}: expected a path or a mapping with 'path', got {value!r}")

    def resolved_format(self) -> str:
        """The format named, or the one the path suggests (a dataset directory: its manifest's kind)."""
        if self.format != "auto":
            return self.format
        path = Path(self.path)
        if path.is_dir():
            if not any((path / name).is_file() for name in (MANIFEST, LEGACY_MANIFEST)):
                raise FileNotFoundError(f"{self.path}: a directory without {MANIFEST} is no dataset")
            return _dataset_kind(self.path)
        if not path.is_file():
            raise FileNotFoundError(f"{self.path} not found (data for language {self.lang!r})")
        suffix = path.suffix.lower()
        if suffix == ".json":
            return "squad"
        if suffix == ".tsv":
            return "tsv"
        if suffix == ".xml":
            return "semeval"
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
    raise InputDataError(f"{source.path}: a QA task reads SQuAD JSON or mrc shards, not {fmt}")


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
    raise InputDataError(f"{source.path}: an NER task reads CoNLL files or tagged shards, not {fmt}")


def read_pair_rows(source: DataSource, pair_task: str) -> list[dict]:
    fmt = source.resolved_format()
    if fmt not in ("tsv", "conll"):  # any non-JSON file is tried as TSV
        raise InputDataError(f"{source.path}: a pair task reads PAWS-X/XNLI TSV files, not {fmt}")
    rows = read_pair_tsv(source.path, pair_task, lang=source.lang)
    # XNLI's dev/test files hold every language: keep the one asked for.
    rows = [row for row in rows if row["lang"] == source.lang] or rows
    return _limited(iter(rows), source.limit, source.skip)


def read_absa(source: DataSource) -> list[dict]:
    """SemEval ABSA sentences ``{"id", "lang", "text", "aspects"}`` of an XML file."""
    fmt = source.resolved_format()
    if fmt != "semeval":
        raise InputDataError(f"{source.path}: an ABSA task reads SemEval XML files, not {fmt}")
    return _limited(iter(read_semeval_xml(source.path, source.lang)), source.limit, source.skip)


def read_sentences_file(path: str | os.PathLike, limit: int | None = None) -> list[str]:
    """Non-empty lines of a text file (MLM memories): one sentence per line."""
    with open(path, encoding="utf-8") as handle:
        lines = [line.strip() for line in handle]
    sentences = [line for line in lines if line]
    if not sentences:
        raise InputDataError(f"{path}: no sentence (one per line expected)")
    return sentences[:limit] if limit is not None else sentences


# ---------------------------------------------------------------------------------------------------------
# Line-parallel text files (XSR memories and retention probes)


@dataclass
class ParallelReadStats:
    pairs: int = 0
    # Pairs dropped because one side is empty (real corpora have them): counted, never silent.
    empty: int = 0
    empty_lines: list[int] = field(default_factory=list)


def read_parallel(source_path: str | os.PathLike, target_path: str | os.PathLike, *, limit: int | None = None,
                  stats: ParallelReadStats | None = None) -> list[tuple[str, str]]:
    """Line-parallel text files -> ``(source, target)`` pairs, stripped; pairs with an empty side are dropped
    and counted in ``stats``. Files of different lengths are an error naming both."""
    stats = stats if stats is not None else ParallelReadStats()
    with open(source_path, encoding="utf-8") as source, open(target_path, encoding="utf-8") as target:
        source_lines, target_lines = source.read().splitlines(), target.read().splitlines()
    if len(source_lines) != len(target_lines):
        raise InputDataError(f"{source_path} has {len(source_lines)} lines but {target_path} has {len(target_lines)}: "
                              "not line-parallel")
    pairs = []
    for number, (src, tgt) in enumerate(zip(source_lines, target_lines), start=1):
        src, tgt = src.strip(), tgt.strip()
        if not src or not tgt:
            stats.empty += 1
            stats.empty_lines.append(number)
            continue
        pairs.append((src, tgt))
        stats.pairs += 1
        if limit is not None and len(pairs) == limit:
            break
    return pairs
