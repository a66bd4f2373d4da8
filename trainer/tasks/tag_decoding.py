"""The tagger's read-out: word tags from a tagger's logits, by Viterbi over the transitions the tag scheme allows
(``constrained_decoding``) or by argmax with the result repaired into a valid tagging. (NER as MRC reads its
entities from span scores: trainer/tasks/span_decoding.py.)"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from schemas.tags import convert_tags, parse_tag


def allowed_transitions(labels: Sequence[str], scheme: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(start, transition, end)`` bool arrays: which label may begin a sentence, follow another, end one."""
    parsed = [parse_tag(label) for label in labels]
    size = len(labels)

    def may_follow(prev, cur) -> bool:
        (pp, pl), (cp, cl) = prev, cur
        inside = cp in ("I", "E")
        if scheme == "BIO":
            return not inside or (pp in ("B", "I") and pl == cl)
        open_before = pp in ("B", "I")
        if open_before:  # B-X or I-X must continue with I-X or E-X
            return inside and pl == cl
        return not inside

    start = np.array([p[0] not in ("I", "E") for p in parsed])
    end = np.array([scheme == "BIO" or p[0] not in ("B", "I") for p in parsed])
    transition = np.array([[may_follow(parsed[i], parsed[j]) for j in range(size)] for i in range(size)])
    return start, transition, end


def constrained_decode(log_probs: np.ndarray, labels: Sequence[str], scheme: str = "BIOES") -> list[str]:
    """The most probable tag sequence the scheme allows (Viterbi over per-word log-probabilities)."""
    log_probs = np.asarray(log_probs, dtype=np.float64)
    if log_probs.shape[0] == 0:
        return []
    start, transition, end = allowed_transitions(labels, scheme)
    penalty = np.where(transition, 0.0, -np.inf)
    score = np.where(start, log_probs[0], -np.inf)
    back = []
    for row in log_probs[1:]:
        candidates = score[:, None] + penalty  # [previous, current]
        best = candidates.argmax(axis=0)
        back.append(best)
        score = candidates[best, np.arange(len(labels))] + row
    score = np.where(end, score, -np.inf)
    path = [int(score.argmax())]
    for best in reversed(back):
        path.append(int(best[path[-1]]))
    return [labels[n] for n in reversed(path)]


def repair_tags(tags: Sequence[str], scheme: str = "BIOES") -> list[str]:
    """A valid sequence in ``scheme`` with the entities conlleval reads from ``tags`` (e.g. ``I-PER`` after
    ``O`` opens an entity; ``B-PER`` alone in BIOES becomes ``S-PER``)."""
    return convert_tags(list(tags), scheme)


def decode_sentence(logits: np.ndarray | torch.Tensor, word_positions: Sequence[int], words: int,
                    labels: Sequence[str], scheme: str = "BIOES", constrained: bool = True) -> list[str]:
    """Word tags of one sentence from its ``[L, num_labels]`` logits; truncated words are ``O``."""
    logits = torch.as_tensor(logits).float()
    word_logits = logits[list(word_positions)] if word_positions else logits[:0]
    if constrained:
        tags = constrained_decode(torch.log_softmax(word_logits, dim=-1).numpy(), labels, scheme)
    else:
        tags = repair_tags([labels[n] for n in word_logits.argmax(dim=-1).tolist()], scheme)
    tags += ["O"] * (words - len(tags))
    return tags


def decode_batch(logits: torch.Tensor, batch: dict, labels: Sequence[str], scheme: str = "BIOES",
                 constrained: bool = True, words: Sequence[int] | None = None) -> list[list[str]]:
    """Word tags for every sentence of a ``collate_tagging`` batch (``words``: sentence lengths, by default
    the number of kept words)."""
    positions = batch["word_positions"]
    words = words or [len(p) for p in positions]
    return [decode_sentence(logits[n].detach().cpu(), positions[n], words[n], labels, scheme, constrained)
            for n in range(len(positions))]


