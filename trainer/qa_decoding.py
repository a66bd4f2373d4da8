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

``positive_spans`` is the decoding of span tasks in MRC form (NER, ABSA, paper 001 Table 6): every context
span with S_ij > 0 is an answer.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
import torch

from trainer.qa_data import HEADS, QAExample, QAFeature, feature_batches, trim_offsets


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


def _span_table(feature: QAFeature, seq_len: int, max_answer_length: int) -> np.ndarray:
    """``[L, L]`` bool: cells (i, j) that are a context span of at most ``max_answer_length`` tokens."""
    positions = np.arange(seq_len)
    inside = (positions >= feature.context_start) & (positions < feature.context_end)
    width = positions[None, :] - positions[:, None]
    return inside[:, None] & inside[None, :] & (width >= 0) & (width < max_answer_length)


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
    allowed = _span_table(feature, scores.shape[0], max_answer_length)
    masked = np.where(allowed, scores, -np.inf)
    return [(i, j, float(masked[i, j])) for i, j in _top_pairs(masked, n_best)], null_score


def decode_qa(examples: Mapping[str, QAExample | dict], features: Sequence[QAFeature],
              outputs: Sequence[Mapping[str, np.ndarray]], head: str = "start_end", n_best: int = 20,
              max_answer_length: int = 30, allow_null: bool = False,
              null_threshold: float = 0.0) -> dict[str, QAPrediction]:
    """One prediction per example id of ``examples`` that has windows in ``features`` (``outputs[n]`` is
    the model output of ``features[n]``: ``start_logits``/``end_logits`` of shape ``[L]`` or ``scores`` of
    shape ``[L, L]``)."""
    if head not in HEADS:
        raise ValueError(f"unknown QA head {head!r}; known: {', '.join(HEADS)}")
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
        context = example.context if isinstance(example, QAExample) else example["context"]
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


@torch.no_grad()
def predict_windows(model: torch.nn.Module, features: Sequence[QAFeature], head: str, batch_size: int = 32,
                    pad_token_id: int = 0, device: torch.device | str | None = None) -> list[dict[str, np.ndarray]]:
    """Run a QA head over featurised windows (evaluation mode) and return each window's output trimmed to
    its length, ready for ``decode_qa``."""
    was_training = model.training
    model.eval()
    device = device or next(model.parameters()).device
    outputs = []
    try:
        for chunk, batch in feature_batches(features, batch_size, pad_token_id):
            tensors = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
            for key in ("start_positions", "end_positions", "answer_spans"):
                tensors.pop(key, None)  # no loss at prediction time
            result = model(**tensors)
            for n, feature in enumerate(chunk):
                size = len(feature.input_ids)
                if head == "extractor":
                    outputs.append({"scores": result["scores"][n, :size, :size].float().cpu().numpy()})
                else:
                    outputs.append({key: result[key][n, :size].float().cpu().numpy()
                                    for key in ("start_logits", "end_logits")})
    finally:
        model.train(was_training)
    return outputs


def positive_spans(scores: np.ndarray, feature, threshold: float = 0.0, max_span_length: int | None = None,
                   context: str | None = None) -> list[tuple[int, int, float]]:
    """Every context span with S_ij > ``threshold`` as ``(char_start, char_end, score)``, best first.

    ``feature`` is any feature with ``context_start``, ``context_end`` and ``context_offsets`` (an
    ``MRCFeature`` or a ``QAFeature``); ``scores`` its ``[L, L]`` extractor logits. With ``context`` the
    offsets lose surrounding white space (``qa_data.trim_offsets``), as SentencePiece tokens carry it."""
    offsets = trim_offsets(context, feature.context_offsets) if context is not None else feature.context_offsets
    scores = np.asarray(scores, dtype=np.float64)
    allowed = _span_table(feature, scores.shape[0], max_span_length or scores.shape[0])
    rows, cols = np.nonzero(allowed & (scores > threshold))
    spans = []
    for i, j in zip(rows.tolist(), cols.tolist()):
        start = offsets[i - feature.context_start][0]
        end = offsets[j - feature.context_start][1]
        spans.append((start, end, float(scores[i, j])))
    return sorted(spans, key=lambda s: (-s[2], s[0], s[1]))


def evaluate_qa(model: torch.nn.Module, tokenizer, examples: Sequence[QAExample], config,
                batch_size: int = 32, n_best: int = 20, max_answer_length: int = 30, allow_null: bool = False,
                device: torch.device | str | None = None) -> tuple[dict[str, QAPrediction], dict[str, dict]]:
    """Featurise ``examples`` (a ``QAFeatureConfig``), run the model, decode, and score: predictions by id
    and EM/F1 per language (SQuAD normalisation for English, MLQA's otherwise), ready for
    ``metrics.language_report``."""
    from trainer.metrics import qa_scores
    from trainer.qa_data import QAFeaturizer

    features = QAFeaturizer(tokenizer, config)([e.as_row() for e in examples])
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    outputs = predict_windows(model, features, config.head, batch_size, pad, device)
    predictions = decode_qa({e.id: e for e in examples}, features, outputs, config.head, n_best,
                            max_answer_length, allow_null)
    per_language: dict[str, dict] = {}
    for lang in sorted({e.lang for e in examples}):
        golds = {e.id: [a["text"] for a in e.answers] for e in examples if e.lang == lang}
        per_language[lang] = qa_scores({k: predictions[k].text for k in golds if k in predictions}, golds, lang)
    return predictions, per_language
