"""Cross-lingual sentence retrieval (XSR): sentence embeddings, P@1/5/10, and the XSR memory loss.

Paper 003 measures how much cross-linguality a fine-tuning constraint keeps with XSR: for every source sentence
of a held-out parallel set, find its translation among all target sentences; P@k is the fraction of source
sentences whose translation is among the k nearest targets (paper 003 Appendix A). A sentence embedding is the
mean of the encoder's token states over the non-padding tokens; nearness is cosine similarity.

A sentence's rank is the number of targets strictly more similar than its own translation, so a tie (e.g. two
identical target sentences) is counted in the sentence's favour; P@k = fraction with rank < k.

For GEM/MTF with XSR as the remembered task, paper 003 does not spell out the training loss; we use InfoNCE over
the pairs of a batch (each source must pick its own translation among the batch's targets and vice versa,
cosine similarity divided by a temperature), which trains exactly the ranking that P@k measures.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

DEFAULT_KS = (1, 5, 10)


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """``[B, L, H]`` states -> ``[B, H]`` mean over the tokens where ``attention_mask`` is 1."""
    weights = attention_mask.to(hidden.dtype).unsqueeze(-1)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)


def sentence_embeddings(encoder: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                        token_type_ids: torch.Tensor | None = None, layer: int | None = None,
                        **_extras) -> torch.Tensor:
    """Mean-pooled states of ``encoder`` (a transformers ``AutoModel``) at ``layer`` (None: the last layer;
    0: the embeddings; i: after layer i), with gradients."""
    inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
    if token_type_ids is not None:
        inputs["token_type_ids"] = token_type_ids
    if layer is None:
        hidden = encoder(**inputs).last_hidden_state
    else:
        hidden = encoder(**inputs, output_hidden_states=True).hidden_states[layer]
    return mean_pool(hidden, attention_mask)


def tokenize_batch(tokenizer, texts: Sequence[str], max_length: int = 128) -> dict[str, torch.Tensor]:
    """Padded tensors for ``texts``."""
    return dict(tokenizer(list(texts), truncation=True, max_length=max_length, padding=True, return_tensors="pt"))


@torch.no_grad()
def encode_sentences(encoder: nn.Module, tokenizer, texts: Sequence[str], *, batch_size: int = 32,
                     max_length: int = 128, layer: int | None = None) -> torch.Tensor:
    """``[N, H]`` float32 embeddings of ``texts`` in eval mode (the encoder's mode is restored)."""
    device = next(encoder.parameters()).device
    was_training = encoder.training
    encoder.eval()
    out = []
    try:
        for start in range(0, len(texts), batch_size):
            batch = tokenize_batch(tokenizer, texts[start:start + batch_size], max_length)
            out.append(sentence_embeddings(encoder, layer=layer,
                                           **{key: value.to(device) for key, value in batch.items()}).float())
    finally:
        encoder.train(was_training)
    if not out:
        raise ValueError("no sentences to encode")
    return torch.cat(out)


def cosine_matrix(source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``[N, M]`` cosine similarities between the rows of ``source`` and of ``target``."""
    return F.normalize(source.float(), dim=-1) @ F.normalize(target.float(), dim=-1).T


def retrieval_ranks(source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Rank of target i among all targets for source i (0 = nearest): the number of targets strictly more
    similar to source i than target i. ``source`` and ``target`` are parallel ``[N, H]`` embeddings."""
    if source.shape[0] != target.shape[0]:
        raise ValueError(f"parallel embeddings needed: {source.shape[0]} sources, {target.shape[0]} targets")
    similarity = cosine_matrix(source, target)
    correct = similarity.diagonal().unsqueeze(1)
    return (similarity > correct).sum(dim=1)


def precision_at_k(ranks: torch.Tensor, ks: Sequence[int] = DEFAULT_KS) -> dict[str, float]:
    """``{"p@k": fraction of ranks < k}``, fractions in [0, 1] (paper 003 prints them as percentages)."""
    if ranks.numel() == 0:
        raise ValueError("no ranks")
    return {f"p@{k}": (ranks < k).float().mean().item() for k in ks}


def xsr_precision(encoder: nn.Module, tokenizer, source_texts: Sequence[str], target_texts: Sequence[str], *,
                  ks: Sequence[int] = DEFAULT_KS, batch_size: int = 32, max_length: int = 128,
                  layer: int | None = None) -> dict[str, float]:
    """P@k of retrieving ``target_texts[i]`` for ``source_texts[i]`` among all ``target_texts``."""
    if len(source_texts) != len(target_texts):
        raise ValueError(f"{len(source_texts)} source sentences but {len(target_texts)} targets")
    options = {"batch_size": batch_size, "max_length": max_length, "layer": layer}
    ranks = retrieval_ranks(encode_sentences(encoder, tokenizer, source_texts, **options),
                            encode_sentences(encoder, tokenizer, target_texts, **options))
    return precision_at_k(ranks, ks)


def xsr_contrastive_loss(source: torch.Tensor, target: torch.Tensor, temperature: float = 0.05,
                         symmetric: bool = True) -> torch.Tensor:
    """InfoNCE over in-batch pairs: cross-entropy of picking target i for source i among the batch's targets
    (and, ``symmetric``, source i for target i), logits = cosine / temperature. Computed in float32."""
    if source.shape != target.shape or source.dim() != 2:
        raise ValueError(f"parallel [B, H] embeddings needed, got {tuple(source.shape)} and {tuple(target.shape)}")
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    logits = cosine_matrix(source, target) / temperature
    labels = torch.arange(source.shape[0], device=source.device)
    loss = F.cross_entropy(logits, labels)
    if symmetric:
        loss = (loss + F.cross_entropy(logits.T, labels)) / 2
    return loss


