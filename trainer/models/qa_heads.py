"""Extractive QA heads on a transformers encoder, as modules the training loop drives.

Every module has an ``encoder`` attribute (an ``AutoModel``), takes a batch from ``trainer.data.qa_features.
QACollator`` as ``model(**batch)`` (unused keys ignored) and returns a dict with the logits and, when the
batch carries targets, ``"loss"``.

- ``StartEndQA``: a linear layer gives each token a start and an end logit (BERT's SQuAD head).
- ``ExtractorQA``: mPMR's extractor (paper 001 §2.1; ``trainer.models.span_extractor.SpanExtractor``, whose
  parameter names it keeps, so an mPMR checkpoint loads as is): span scores S_ij, trained with the WAE
  loss, where the ``[CLS]`` cell S_00 says whether the window holds the answer (the null score decoding
  weighs against the best span). Works for every task in MRC form (NER, ABSA, sentence pairs) as well.
- ``QueQA``: CLISM's ``[QUE]`` fine-tuning (paper 000 eq. 10 with eq. 1-4): the ``[QUE]`` representation
  x_q gives dynamic vectors s_q = W_s x_q and e_q = W_e x_q, and token k's start / end logits are
  x_kᵀ s_q and x_kᵀ e_q.

Start/end heads mask every position outside the context except ``[CLS]`` (the no-answer cell), and their
loss is the sum of the start and end cross-entropies (paper 000 eq. 4), averaged over the batch.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel

from trainer.models.span_extractor import SpanExtractor, SpanExtractorConfig, valid_span_mask, wae_loss

# Finite so bf16/fp16 logits stay representable; far below any real logit.
MASKED_LOGIT = -1.0e4


def _encode(encoder: PreTrainedModel, input_ids, attention_mask, token_type_ids) -> torch.Tensor:
    inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
    if token_type_ids is not None:
        inputs["token_type_ids"] = token_type_ids
    return encoder(**inputs).last_hidden_state


def answer_position_mask(context_start: torch.Tensor, context_end: torch.Tensor, seq_len: int) -> torch.Tensor:
    """``[B, L]`` bool: the positions an answer may start or end at - the context and ``[CLS]``."""
    positions = torch.arange(seq_len, device=context_start.device)
    mask = (positions >= context_start[:, None]) & (positions < context_end[:, None])
    mask[:, 0] = True
    return mask


def start_end_loss(start_logits: torch.Tensor, end_logits: torch.Tensor, start_positions: torch.Tensor,
                   end_positions: torch.Tensor) -> torch.Tensor:
    """-log P(start) - log P(end) (paper 000 eq. 4), averaged over the batch; in float32."""
    start = F.cross_entropy(start_logits.float(), start_positions.to(start_logits.device))
    end = F.cross_entropy(end_logits.float(), end_positions.to(end_logits.device))
    return start + end


def _start_end_output(start_logits, end_logits, context_start, context_end, start_positions, end_positions):
    if context_start is not None and context_end is not None:
        mask = answer_position_mask(context_start.to(start_logits.device), context_end.to(start_logits.device),
                                    start_logits.shape[1])
        start_logits = start_logits.masked_fill(~mask, MASKED_LOGIT)
        end_logits = end_logits.masked_fill(~mask, MASKED_LOGIT)
    output = {"start_logits": start_logits, "end_logits": end_logits}
    if start_positions is not None and end_positions is not None:
        output["loss"] = start_end_loss(start_logits, end_logits, start_positions, end_positions)
    return output


def _init_linear(layer: nn.Linear, encoder: PreTrainedModel) -> None:
    # Like the encoder's own layers (normal, std initializer_range): PyTorch's default init is far wider.
    nn.init.normal_(layer.weight, std=getattr(encoder.config, "initializer_range", 0.02))
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)


class StartEndQA(nn.Module):
    """Linear start/end classifier over the token states."""

    def __init__(self, encoder: PreTrainedModel):
        super().__init__()
        self.encoder = encoder
        self.qa_outputs = nn.Linear(encoder.config.hidden_size, 2)
        _init_linear(self.qa_outputs, encoder)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None, context_start: torch.Tensor | None = None,
                context_end: torch.Tensor | None = None, start_positions: torch.Tensor | None = None,
                end_positions: torch.Tensor | None = None, **_extras) -> dict:
        hidden = _encode(self.encoder, input_ids, attention_mask, token_type_ids)
        start_logits, end_logits = self.qa_outputs(hidden).unbind(dim=-1)
        return _start_end_output(start_logits, end_logits, context_start, context_end, start_positions,
                                 end_positions)


class QueQA(nn.Module):
    """Start/end logits from the ``[QUE]`` token's dynamic vectors (paper 000 eq. 1-3)."""

    def __init__(self, encoder: PreTrainedModel):
        super().__init__()
        self.encoder = encoder
        hidden = encoder.config.hidden_size
        # W_s and W_e of eq. 1 (no bias in the paper's formula).
        self.start_projection = nn.Linear(hidden, hidden, bias=False)
        self.end_projection = nn.Linear(hidden, hidden, bias=False)
        for layer in (self.start_projection, self.end_projection):
            _init_linear(layer, encoder)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, que_positions: torch.Tensor,
                token_type_ids: torch.Tensor | None = None, context_start: torch.Tensor | None = None,
                context_end: torch.Tensor | None = None, start_positions: torch.Tensor | None = None,
                end_positions: torch.Tensor | None = None, **_extras) -> dict:
        if bool((que_positions <= 0).any()):
            raise ValueError("a [QUE] batch needs que_positions > 0 (features built with head='que')")
        hidden = _encode(self.encoder, input_ids, attention_mask, token_type_ids)
        rows = torch.arange(hidden.shape[0], device=hidden.device)
        que = hidden[rows, que_positions.to(hidden.device)]  # [B, H]: x_q
        start_vectors, end_vectors = self.start_projection(que), self.end_projection(que)
        start_logits = torch.einsum("blh,bh->bl", hidden, start_vectors)  # x_kᵀ s_q
        end_logits = torch.einsum("blh,bh->bl", hidden, end_vectors)
        return _start_end_output(start_logits, end_logits, context_start, context_end, start_positions,
                                 end_positions)


class ExtractorQA(SpanExtractor):
    """mPMR's extractor fine-tuned on MRC batches (``QACollator`` with head ``extractor``, or
    ``trainer.data.mrc_features.MRCCollator``): returns ``scores`` (``[B, L, L]`` logits S_ij), ``valid_mask``
    and, with ``answer_spans``, the WAE ``loss``."""

    def __init__(self, encoder: PreTrainedModel, config: SpanExtractorConfig | None = None):
        super().__init__(encoder, config)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None, context_start: torch.Tensor | None = None,
                context_end: torch.Tensor | None = None, answer_spans: torch.Tensor | None = None,
                **_extras) -> dict:
        hidden = _encode(self.encoder, input_ids, attention_mask, token_type_ids)
        scores = self.span_scores(hidden)
        output = {"scores": scores}
        if context_start is not None and context_end is not None:
            mask = valid_span_mask(context_start.to(scores.device), context_end.to(scores.device),
                                   scores.shape[1], self.config.max_span_length, self.config.cls_row_negatives)
            output["valid_mask"] = mask
            if answer_spans is not None:
                output["loss"] = wae_loss(scores, mask, answer_spans)
        return output
