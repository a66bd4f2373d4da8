"""mPMR's extractor and its Wiki Anchor Extraction (WAE) objective.

Paper 001 §2.1: an encoder maps ``[CLS] Q [SEP] C [SEP]`` to hidden states H; the extractor gives every
token pair i <= j a score S_ij, the probability (after a sigmoid) that tokens i..j are an answer. WAE
extracts the [CLS] cell S_00 as the query-context relevance (1 iff the context holds an answer) and every
answer span of the context. The extractor's form is PMR's (Xu et al. 2022, which paper 001 §2 follows):
S = FFN(H) · Hᵀ, FFN a two-layer projection (linear, activation, dropout, linear) back to the hidden size,
randomly initialised on top of the pretrained encoder (paper 001 §3).

The loss is binary cross-entropy over the valid cells - context spans (both ends inside the context,
i <= j, at most ``max_span_length`` tokens) plus the [CLS] cell - summed and divided by the number of valid
cells in the batch. ``cls_row_negatives`` adds the cells (0, j) of every context token j, all labelled 0:
the mask of the mPMR authors' code (DAMO-NLP-SG/PMR), where the [CLS] row of the score matrix is trained too.
Labels arrive sparse (``[K, 3]`` rows of example, start, end) and the ``B x L x L``
label matrix is built on the scores' device.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoModel, PretrainedConfig, PreTrainedModel
from transformers.utils import ModelOutput

_ACTIVATIONS = {"gelu": nn.GELU, "relu": nn.ReLU, "tanh": nn.Tanh}


@dataclass
class SpanExtractorConfig:
    # Width of the FFN's hidden layer; None: the encoder's hidden size.
    intermediate_size: int | None = None
    # Dropout inside the FFN; None: the encoder's hidden dropout (paper 001 A.1 keeps XLM-R's dropout).
    dropout: float | None = None
    activation: str = "gelu"
    # Longest answer span, in tokens, the loss looks at; None: any span inside the context.
    max_span_length: int | None = None
    # Also score the cells (0, j) of the context tokens j as negatives (the mPMR authors' loss mask).
    cls_row_negatives: bool = False


@dataclass
class SpanExtractorOutput(ModelOutput):
    """Attributes and, for the training loop, a mapping (``output["loss"]``) of the entries that are set."""

    scores: torch.Tensor | None = None  # [B, L, L] logits S_ij
    valid_mask: torch.Tensor | None = None  # [B, L, L] cells the loss covers
    loss: torch.Tensor | None = None


class SpanProjection(nn.Module):
    """The two-layer FFN applied to H before the product with Hᵀ."""

    def __init__(self, hidden_size: int, intermediate_size: int, dropout: float, activation: str = "gelu"):
        super().__init__()
        if activation not in _ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; known: {', '.join(_ACTIVATIONS)}")
        self.dense_in = nn.Linear(hidden_size, intermediate_size)
        self.activation = _ACTIVATIONS[activation]()
        self.dropout = nn.Dropout(dropout)
        self.dense_out = nn.Linear(intermediate_size, hidden_size)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.dense_out(self.dropout(self.activation(self.dense_in(hidden))))


def valid_span_mask(context_start: torch.Tensor, context_end: torch.Tensor, seq_len: int,
                    max_span_length: int | None = None, cls_row_negatives: bool = False) -> torch.Tensor:
    """``[B, L, L]`` bool: cell (i, j) is a context span (start <= i <= j < end, j - i < max_span_length),
    or the [CLS] cell (0, 0); with ``cls_row_negatives`` also (0, j) for every context token j (no span
    length limit: they are not spans)."""
    positions = torch.arange(seq_len, device=context_start.device)
    inside = (positions >= context_start[:, None]) & (positions < context_end[:, None])  # [B, L]
    mask = inside[:, :, None] & inside[:, None, :]
    width = positions[None, :] - positions[:, None]  # j - i
    allowed = width >= 0
    if max_span_length is not None:
        allowed &= width < max_span_length
    mask &= allowed
    if cls_row_negatives:
        mask[:, 0, :] |= inside
    mask[:, 0, 0] = True
    return mask


def span_label_matrix(answer_spans: torch.Tensor, batch_size: int, seq_len: int,
                      device: torch.device | str, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``[B, L, L]`` labels from sparse ``(example, start, end)`` rows: 1 at every answer cell, and at the
    [CLS] cell (0, 0) of every example with at least one answer (relevance, paper 001 §2.1)."""
    labels = torch.zeros((batch_size, seq_len, seq_len), dtype=dtype, device=device)
    spans = answer_spans.to(device=device, dtype=torch.long).reshape(-1, 3)
    if spans.numel():
        ones = torch.ones(spans.shape[0], dtype=dtype, device=device)
        labels.index_put_((spans[:, 0], spans[:, 1], spans[:, 2]), ones)
        zeros = torch.zeros_like(spans[:, 0])
        labels.index_put_((spans[:, 0], zeros, zeros), ones)
    return labels


def wae_loss(scores: torch.Tensor, valid_mask: torch.Tensor, answer_spans: torch.Tensor) -> torch.Tensor:
    """Wiki Anchor Extraction loss: BCE over the valid cells, normalised by their number.

    An answer cell outside ``valid_mask`` (longer than the maximum span length) is ignored; its example
    stays relevant. Computed in float32 whatever the autocast dtype of ``scores``."""
    batch_size, seq_len, _ = scores.shape
    labels = span_label_matrix(answer_spans, batch_size, seq_len, scores.device)
    cell_losses = F.binary_cross_entropy_with_logits(scores.float(), labels, reduction="none")
    weights = valid_mask.to(cell_losses.dtype)
    return (cell_losses * weights).sum() / weights.sum().clamp(min=1.0)


def _encoder_without_pooler(build, *args, **kwargs) -> PreTrainedModel:
    # The extractor reads token states only; a pooler would be parameters without gradients, which DDP
    # refuses unless told to search for unused parameters. Not every architecture takes the argument.
    try:
        return build(*args, add_pooling_layer=False, **kwargs)
    except TypeError:
        return build(*args, **kwargs)


class SpanExtractor(nn.Module):
    """Any transformers encoder (``AutoModel``) plus the span extractor; ``forward`` returns span scores and,
    given answers, the WAE loss."""

    def __init__(self, encoder: PreTrainedModel, config: SpanExtractorConfig | None = None):
        super().__init__()
        self.encoder = encoder
        self.config = config or SpanExtractorConfig()
        encoder_config = encoder.config
        hidden = encoder_config.hidden_size
        dropout = self.config.dropout
        if dropout is None:
            dropout = getattr(encoder_config, "hidden_dropout_prob", 0.1)
        self.projection = SpanProjection(hidden, self.config.intermediate_size or hidden, dropout,
                                         self.config.activation)
        # Initialised like the encoder's own layers (normal, std initializer_range): PyTorch's default
        # uniform init gives scores of hundreds on a 768-wide encoder, saturating the sigmoid from step one.
        std = getattr(encoder_config, "initializer_range", 0.02)
        for layer in (self.projection.dense_in, self.projection.dense_out):
            nn.init.normal_(layer.weight, std=std)
            nn.init.zeros_(layer.bias)

    @classmethod
    def from_encoder_config(cls, encoder_config: PretrainedConfig,
                            config: SpanExtractorConfig | None = None) -> "SpanExtractor":
        """A randomly initialised encoder of the given architecture (tests, or training from scratch)."""
        return cls(_encoder_without_pooler(AutoModel.from_config, encoder_config, trust_remote_code=False), config)

    def span_scores(self, hidden: torch.Tensor) -> torch.Tensor:
        """S = FFN(H) · Hᵀ: ``[B, L, H] -> [B, L, L]``, S[b, i, j] scoring tokens i..j."""
        return torch.matmul(self.projection(hidden), hidden.transpose(-1, -2))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None, context_start: torch.Tensor | None = None,
                context_end: torch.Tensor | None = None, answer_spans: torch.Tensor | None = None,
                **_batch_extras) -> SpanExtractorOutput:
        """Scores for a batch from ``MRCCollator``; extra batch keys (counts, ids) are ignored so a batch
        can be passed as ``model(**batch)``."""
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            inputs["token_type_ids"] = token_type_ids
        hidden = self.encoder(**inputs).last_hidden_state
        scores = self.span_scores(hidden)
        if context_start is None or context_end is None:
            return SpanExtractorOutput(scores=scores)
        mask = valid_span_mask(context_start.to(scores.device), context_end.to(scores.device), scores.shape[1],
                               self.config.max_span_length, self.config.cls_row_negatives)
        loss = None if answer_spans is None else wae_loss(scores, mask, answer_spans)
        return SpanExtractorOutput(scores=scores, valid_mask=mask, loss=loss)


