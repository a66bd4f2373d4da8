"""From model outputs over windows back to answers in the context's characters.

``decode_qa`` gathers, for each example, the n best spans of each of its windows (at most
``max_answer_length`` tokens, both ends inside the window's context), maps them to characters of the
context with the window's offsets, merges windows (a span seen in two overlapping windows keeps its best
score) and ranks them:

- start/end heads (``start_end``, ``que``): a span scores start_logit + end_logit; the window's null score is
  the ``[CLS]`` cell's start_logit[0] + end_logit[0].
- the extractor: a span scores S_ij and the window's null score is S_00, the relevance of the window
  (paper 001 §2.1). A window whose null score beats its best span is judged not to hold the answer and its
  spans are set aside; if every window is, the example is unanswerable (``allow_null``) or falls back to
  the best span over all windows (SQuAD v1.1 data, where every question has an answer).

With ``allow_null`` a start/end example is unanswerable when its null score (the smallest over its windows,
as in BERT's SQuAD 2.0 decoding) exceeds the best span's score by more than ``null_threshold``.

The span read-out of NER and ABSA in MRC form is ``trainer.tasks.span_decoding.positive_spans``; featurising
and running the model before decoding is the QA task's job (``trainer.tasks.qa.evaluate_qa``). The head is
not validated here: a feature's head was checked when it was made.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np

from trainer.data.mrc_features import context_span_table

if TYPE_CHECKING:
    from trainer.data.qa_features import QAFeature
    from trainer.data.squad import QAExample


@dataclass
class Candidate:
    text: str
    start: int  # character offsets [start, end) into the context
    end: int
    score: float
    window: int


@dataclass
class QAPrediction:
    example_id: str
    text: str  # "" when judged unanswerable
    start: int
    end: int
    score: float
    null_score: float
    n_best: list[Candidate] = field(default_factory=list)


def _top_pairs(scores: np.ndarray, n_best: int) -> list[tuple[int, int]]:
    """Indices of the ``n_best`` largest finite cells of a 2-D array, best first."""
    flat = scores.ravel()
    finite = np.flatnonzero(np.isfinite(flat))
    if finite.size == 0:
        return []
    take = min(n_best, finite.size)
    best = finite[np.argpartition(-flat[finite], take - 1)[:take]]
    best = best[np.argsort(-flat[best], kind="stable")]
    return [divmod(int(index), scores.shape[1]) for index in best]


def window_candidates(feature: QAFeature, output: Mapping[str, np.ndarray], head: str, n_best: int,
                      max_answer_length: int) -> tuple[list[tuple[int, int, float]], float]:
    """The window's best ``(start, end, score)`` sequence spans and its null score."""
    if head == "extractor":
        scores = np.asarray(output["scores"], dtype=np.float64)
        null_score = float(scores[0, 0])
    else:
        start, end = (np.asarray(output[key], dtype=np.float64) for key in ("start_logits", "end_logits"))
        scores = start[:, None] + end[None, :]
        null_score = float(start[0] + end[0])
    allowed = context_span_table(feature, scores.shape[0], max_answer_length)
    masked = np.where(allowed, scores, -np.inf)
    return [(i, j, float(masked[i, j])) for i, j in _top_pairs(masked, n_best)], null_score


def decode_qa(examples: Mapping[str, QAExample | dict], features: Sequence[QAFeature],
              outputs: Sequence[Mapping[str, np.ndarray]], head: str = "start_end", n_best: int = 20,
              max_answer_length: int = 30, allow_null: bool = False,
              null_threshold: float = 0.0) -> dict[str, QAPrediction]:
    """One prediction per example id of ``examples`` that has windows in ``features`` (``outputs[n]`` is
    the model output of ``features[n]``: ``start_logits``/``end_logits`` of shape ``[L]`` or ``scores`` of
    shape ``[L, L]``)."""
    if len(features) != len(outputs):
        raise ValueError(f"{len(features)} features but {len(outputs)} outputs")
    by_example: dict[str, list[tuple[QAFeature, Mapping]]] = {}
    for feature, output in zip(features, outputs):
        by_example.setdefault(feature.example_id, []).append((feature, output))
    predictions = {}
    for example_id, windows in by_example.items():
        if example_id not in examples:
            raise KeyError(f"feature of unknown example {example_id!r}")
        example = examples[example_id]
        context = example["context"] if isinstance(example, Mapping) else example.context
        answering: dict[tuple[int, int], Candidate] = {}
        others: dict[tuple[int, int], Candidate] = {}
        null_scores = []
        for feature, output in windows:
            spans, null_score = window_candidates(feature, output, head, n_best, max_answer_length)
            null_scores.append(null_score)
            # The extractor's relevance cell decides per window (see the module docstring).
            relevant = head != "extractor" or (spans and spans[0][2] > null_score)
            pool = answering if relevant else others
            for i, j, score in spans:
                char_start = feature.context_offsets[i - feature.context_start][0]
                char_end = feature.context_offsets[j - feature.context_start][1]
                key = (char_start, char_end)
                if key not in pool or pool[key].score < score:
                    pool[key] = Candidate(context[char_start:char_end], char_start, char_end, score, feature.window)
        null_score = min(null_scores) if head != "extractor" else max(null_scores)
        ranked = sorted(answering.values(), key=lambda c: -c.score)
        if not ranked and not allow_null:
            ranked = sorted(others.values(), key=lambda c: -c.score)
        unanswerable = not ranked or (allow_null and head != "extractor"
                                      and null_score > ranked[0].score + null_threshold)
        if unanswerable:
            predictions[example_id] = QAPrediction(example_id, "", 0, 0, null_score, null_score, ranked[:n_best])
        else:
            best = ranked[0]
            predictions[example_id] = QAPrediction(example_id, best.text, best.start, best.end, best.score,
                                                   null_score, ranked[:n_best])
    return predictions


