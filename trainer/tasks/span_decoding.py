"""Reading a span extractor's ``[L, L]`` scores: which cells are context spans, every span scoring above a
threshold (the read-out of NER and ABSA MRC; QA decoding ranks the same cells) - for NER snapped to words and
made a valid tagging (``decode_ner_mrc``, paper 001 Table 6) - and the label whose query scores the highest
relevance S_00 (the read-out of pair MRC)."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from schemas.tags import Span, tags_from_spans
from trainer.data.mrc_features import MRCFeature, chars_to_words, context_span_table, trim_offsets, word_offsets


def positive_spans(scores: np.ndarray, feature, threshold: float = 0.0, max_span_length: int | None = None,
                   context: str | None = None) -> list[tuple[int, int, float]]:
    """Every context span with S_ij > ``threshold`` as ``(char_start, char_end, score)``, best first.

    ``feature`` is any feature with ``context_start``, ``context_end`` and ``context_offsets`` (an
    ``MRCFeature`` or a ``QAFeature``); ``scores`` its ``[L, L]`` extractor logits. With ``context`` the
    offsets lose surrounding white space (``mrc_features.trim_offsets``), as SentencePiece tokens carry it."""
    offsets = trim_offsets(context, feature.context_offsets) if context is not None else feature.context_offsets
    scores = np.asarray(scores, dtype=np.float64)
    allowed = context_span_table(feature, scores.shape[0], max_span_length or scores.shape[0])
    rows, cols = np.nonzero(allowed & (scores > threshold))
    spans = []
    for i, j in zip(rows.tolist(), cols.tolist()):
        start = offsets[i - feature.context_start][0]
        end = offsets[j - feature.context_start][1]
        spans.append((start, end, float(scores[i, j])))
    return sorted(spans, key=lambda s: (-s[2], s[0], s[1]))


def pair_mrc_predictions(scores: torch.Tensor, batch: dict) -> dict[str, str]:
    """Pair id -> the label whose query has the highest relevance S_00."""
    relevance = scores[:, 0, 0].detach().float().cpu().tolist()
    best: dict[str, tuple[float, str]] = {}
    for pair_id, label, score in zip(batch["pair_ids"], batch["query_labels"], relevance):
        if pair_id not in best or score > best[pair_id][0]:
            best[pair_id] = (score, label)
    return {pair_id: label for pair_id, (_, label) in best.items()}


def decode_ner_mrc(type_scores: Sequence[tuple[str, np.ndarray, MRCFeature]], words: Sequence[str],
                   threshold: float = 0.0, max_span_length: int | None = None) -> list[Span]:
    """Entities of one sentence from the extractor's scores of its per-type queries: every span with
    S_ij > ``threshold`` (paper 001 Table 6), snapped to words; overlapping spans (within or across types)
    are resolved greedily by score so the result is a valid tagging."""
    context, offsets = word_offsets(words)
    candidates = []
    for entity_type, scores, feature in type_scores:
        for start, end, score in positive_spans(scores, feature, threshold, max_span_length, context):
            word_span = chars_to_words(start, end, offsets)
            if word_span is not None:
                candidates.append((score, word_span[0], word_span[1], entity_type))
    taken = [False] * len(words)
    entities = []
    for score, first, last, entity_type in sorted(candidates, key=lambda c: (-c[0], c[1], c[2], c[3])):
        if any(taken[first:last]):
            continue
        taken[first:last] = [True] * (last - first)
        entities.append(Span(first, last, entity_type))
    return sorted(entities)


def ner_mrc_tags(entities: Sequence[Span], words: int, scheme: str = "BIOES") -> list[str]:
    """Tags of the decoded entities, for ``metrics.entity_scores`` or CoNLL output."""
    return tags_from_spans(words, list(entities), scheme)
