"""Entity-level scores of projected tags against gold tags of the same target sentences.

The CoNLL definition (conlleval): an entity counts as correct when its type and both boundaries match a gold
entity exactly; precision = correct / predicted, recall = correct / gold, F1 their harmonic mean. Entities are
read from either side with conlleval's chunk rules (``schemas.tags.spans_from_tags``), so IOB1, BIO and BIOES
files can be compared with each other.

The predicted side is a CoNLL file (sentence k against gold sentence k) or a ``tagged`` dataset directory
(row ``sentence_index`` k against gold sentence k; a gold sentence without a row, e.g. an empty translation
that was dropped, counts as predicting nothing and is reported).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from functools import partial

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from schemas import open_dataset
from schemas.conll import open_conll_file, read_conll
from schemas.errors import InputDataError
from schemas.layout import LEGACY_MANIFEST, MANIFEST
from schemas.storage import join
from schemas.tags import Span, spans_from_tags

# CoNLL files are opened uncompressed and decompressed by schemas.conll, which reports a cut .gz/.bz2 (Beam's
# own reader stops at the cut as if the file ended there).
_STORED_BYTES = partial(FileSystems.open, compression_type=CompressionTypes.UNCOMPRESSED)


@dataclass
class Counts:
    predicted: int = 0
    gold: int = 0
    correct: int = 0

    @property
    def precision(self) -> float:
        return self.correct / self.predicted if self.predicted else 0.0

    @property
    def recall(self) -> float:
        return self.correct / self.gold if self.gold else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def as_dict(self) -> dict:
        return {**asdict(self), "precision": self.precision, "recall": self.recall, "f1": self.f1}


@dataclass
class Scores:
    overall: Counts = field(default_factory=Counts)
    by_type: dict[str, Counts] = field(default_factory=dict)
    sentences: int = 0
    missing_sentences: int = 0  # gold sentences with no predicted row

    def add(self, predicted: list[Span], gold: list[Span]) -> None:
        self.sentences += 1
        predicted_set, gold_set = set(predicted), set(gold)
        for spans, attr in ((predicted_set, "predicted"), (gold_set, "gold"), (predicted_set & gold_set, "correct")):
            setattr(self.overall, attr, getattr(self.overall, attr) + len(spans))
            for span in spans:
                counts = self.by_type.setdefault(span.label, Counts())
                setattr(counts, attr, getattr(counts, attr) + 1)

    def as_dict(self) -> dict:
        return {"sentences": self.sentences, "missing_sentences": self.missing_sentences,
                "overall": self.overall.as_dict(),
                "by_type": {label: counts.as_dict() for label, counts in sorted(self.by_type.items())}}

    def table(self) -> str:
        lines = [f"{'type':<10}{'gold':>7}{'pred':>7}{'correct':>9}{'P':>8}{'R':>8}{'F1':>8}"]
        rows = sorted(self.by_type.items()) + [("overall", self.overall)]
        for label, c in rows:
            lines.append(f"{label:<10}{c.gold:>7}{c.predicted:>7}{c.correct:>9}"
                         f"{100 * c.precision:>8.2f}{100 * c.recall:>8.2f}{100 * c.f1:>8.2f}")
        lines.append(f"{self.sentences} sentences" + (f", {self.missing_sentences} without a prediction"
                                                       if self.missing_sentences else ""))
        return "\n".join(lines)


def _is_dataset(path: str) -> bool:
    return any(FileSystems.exists(join(path, name)) for name in (MANIFEST, LEGACY_MANIFEST))


def _conll_tags(path: str, encoding: str, tag_column: int) -> list[tuple[list[str], list[str]]]:
    with open_conll_file(path, _STORED_BYTES) as handle:
        return [(s.tokens, s.tags) for s in read_conll(handle, tag_column=tag_column, encoding=encoding,
                                                       tag_scheme=None, name=path)]


def _check_tokens(k: int, predicted: list[str], gold: list[str], where: str, gold_path: str) -> None:
    if len(predicted) != len(gold):
        raise InputDataError(f"sentence {k}: {where} has {len(predicted)} tokens but {gold_path} has {len(gold)}; "
                             "scoring needs the same words on both sides (project with --pretokenized gold tokens)")


def score(predicted: str, gold: str, gold_encoding: str = "utf-8", gold_tag_column: int = -1,
          predicted_encoding: str = "utf-8", predicted_tag_column: int = -1) -> Scores:
    """Score ``predicted`` (CoNLL file or tagged dataset directory) against the ``gold`` CoNLL file."""
    gold_sentences = _conll_tags(gold, gold_encoding, gold_tag_column)
    scores = Scores()
    if _is_dataset(predicted):
        rows = {}
        for row in open_dataset(predicted, "tagged").iter_rows(columns=["tokens", "tags", "sentence_index"]):
            index = row["sentence_index"]
            if index in rows:
                raise InputDataError(f"{predicted}: two rows for sentence_index {index}")
            if not 0 <= index < len(gold_sentences):
                raise InputDataError(f"{predicted}: sentence_index {index} but {gold} has {len(gold_sentences)} "
                                     "sentences")
            rows[index] = (row["tokens"], row["tags"])
        for k, (gold_tokens, gold_tags) in enumerate(gold_sentences):
            if k not in rows:
                scores.missing_sentences += 1
                scores.add([], spans_from_tags(gold_tags))
                continue
            _check_tokens(k, rows[k][0], gold_tokens, predicted, gold)
            scores.add(spans_from_tags(rows[k][1]), spans_from_tags(gold_tags))
        return scores
    predicted_sentences = _conll_tags(predicted, predicted_encoding, predicted_tag_column)
    if len(predicted_sentences) != len(gold_sentences):
        raise InputDataError(f"{predicted} has {len(predicted_sentences)} sentences but {gold} has "
                             f"{len(gold_sentences)}; a CoNLL prediction must hold every gold sentence, in order "
                             "(score the dataset directory instead when sentences were dropped)")
    for k, ((p_tokens, p_tags), (g_tokens, g_tags)) in enumerate(zip(predicted_sentences, gold_sentences)):
        _check_tokens(k, p_tokens, g_tokens, predicted, gold)
        scores.add(spans_from_tags(p_tags), spans_from_tags(g_tags))
    return scores


def write_json(scores: Scores, path: str) -> None:
    with FileSystems.create(path) as handle:
        handle.write((json.dumps(scores.as_dict(), indent=2) + "\n").encode("utf-8"))
