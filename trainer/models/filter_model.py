"""FILTER (paper 004): local, fusion and domain layers over one shared BERT-family encoder, with task heads.

An input is a pair: the text in the language a prediction is made for (the *target* stream: the translated
training text while training, the test text at inference) and its translation in the source language (the
*source* stream). With the encoder's L layers split as m local, k fusion and L - m - k domain layers:

1. each stream is embedded on its own (word + position + token-type embeddings) and runs through layers
   1..m on its own ("local");
2. layers m+1..m+k run over the concatenation of the two streams (eq. 1, "fusion"), with the two attention
   masks concatenated, so every token attends to both languages;
3. the states are split back and each stream runs through the remaining layers on its own (eq. 2-3, "domain").

Every layer is the encoder's own module, applied to both streams: no weight is copied, so the parameter count is
the encoder's (paper 004, "Implementation Details"). m = L, k = 0 is exactly single-stream translate-train (each
stream's states are those of ``encoder(input_ids, attention_mask)``); m = 0, k = L is the plain concatenation
baseline (Figure 2 (a) and (b)).

Positions and token types: each stream is embedded separately, so position ids restart at the beginning of each
stream (paper 004: "the position embeddings are counted from 0 for both sequences"; XLM-R counts from
padding_idx + 1 as it always does) and each stream keeps its own token types (a QA stream's question/context
types; zeros otherwise). The streams are told apart in the fusion layers by their content only, as in the paper;
``FilterConfig.source_token_type`` optionally gives every source token a token type (e.g. 1 for BERT) instead.
Because positions are added before the first layer and BERT/XLM-R layers have no positional terms of their own,
the order of the concatenation does not matter; the target stream comes first.

Heads (one linear layer, paper 004 "a task-specific linear layer on top of H_d^s and H_d^t"), shared by both
streams: ``classification`` on the first token ([CLS] / <s>), ``tagging`` on every token, ``qa`` start/end
logits on every token. Predictions come from the target stream; the source stream's outputs are returned too
(``source_*``), for the source-label loss.

Loss (eq. 6): ``source_label_weight · L^s + λ · L^t + kl_weight · L^kl`` with each term present when its inputs
are in the batch: ``source_labels`` (L^s), ``labels`` (L^t), ``teacher_*`` logits (L^kl, the self-teaching KL of
``trainer/models/distillation.py`` on the target stream). By default ``kl_weight`` is the paper's per-task value
(1.0 tagging, 0.5 classification, 0.1 QA) and λ = 1 - kl_weight when a teacher is given (1 otherwise: the
teacher's own training, Algorithm 1 line 7).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers.masking_utils import create_bidirectional_mask

from schemas.errors import UserError
from trainer.models.distillation import DEFAULT_KL_WEIGHTS, TASKS, self_teaching_loss

SUPPORTED_MODEL_TYPES = ("bert", "roberta", "xlm-roberta")
IGNORE_INDEX = -100


class FilterArchitectureError(UserError, ValueError):
    """The encoder is not one FILTER knows how to split into layers."""


def encoder_layers(encoder: nn.Module) -> tuple[nn.Module, nn.ModuleList]:
    """``(embeddings, layers)`` of a BERT-family encoder, or a ``FilterArchitectureError`` saying why not."""
    config = getattr(encoder, "config", None)
    model_type = getattr(config, "model_type", None)
    layers = getattr(getattr(encoder, "encoder", None), "layer", None)
    if model_type not in SUPPORTED_MODEL_TYPES or not hasattr(encoder, "embeddings") or layers is None:
        raise FilterArchitectureError(
            f"FILTER needs a BERT-family encoder ({', '.join(SUPPORTED_MODEL_TYPES)}: embeddings + encoder.layer), "
            f"got {type(encoder).__name__} (model_type {model_type!r})")
    if getattr(config, "is_decoder", False):
        raise FilterArchitectureError(f"{type(encoder).__name__} is configured as a decoder (causal attention); "
                                      "FILTER needs a bidirectional encoder")
    return encoder.embeddings, layers


def _run_layer(layer: nn.Module, hidden: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    out = layer(hidden, mask)
    return out[0] if isinstance(out, tuple) else out  # transformers 4 returned tuples, 5 a tensor


def filter_encode(encoder: PreTrainedModel, local_layers: int, fusion_layers: int, input_ids: torch.Tensor,
                  attention_mask: torch.Tensor, source_input_ids: torch.Tensor,
                  source_attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None = None,
                  source_token_type_ids: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Final hidden states ``(target [B, Lt, H], source [B, Ls, H])`` of FILTER with m = ``local_layers`` and
    k = ``fusion_layers`` over ``encoder``'s own layers."""
    embeddings, layers = encoder_layers(encoder)
    total = len(layers)
    if local_layers < 0 or fusion_layers < 0 or local_layers + fusion_layers > total:
        raise ValueError(f"FILTER needs 0 <= m, 0 <= k, m + k <= {total} (the encoder's layers); "
                         f"got m = {local_layers}, k = {fusion_layers}")
    if input_ids.shape[0] != source_input_ids.shape[0]:
        raise ValueError(f"{input_ids.shape[0]} target sequences but {source_input_ids.shape[0]} source sequences")
    config = encoder.config

    def embed(ids, types):
        return embeddings(input_ids=ids, token_type_ids=types)

    def mask_for(hidden, mask):
        # The mask in the form the configured attention implementation wants, built as the encoder itself builds
        # it, so m = L, k = 0 reproduces the encoder's own forward exactly.
        return create_bidirectional_mask(config=config, inputs_embeds=hidden, attention_mask=mask)

    target, source = embed(input_ids, token_type_ids), embed(source_input_ids, source_token_type_ids)
    target_mask, source_mask = mask_for(target, attention_mask), mask_for(source, source_attention_mask)
    for layer in layers[:local_layers]:
        target, source = _run_layer(layer, target, target_mask), _run_layer(layer, source, source_mask)
    if fusion_layers:
        fused = torch.cat([target, source], dim=1)
        fused_mask = mask_for(fused, torch.cat([attention_mask, source_attention_mask], dim=1))
        for layer in layers[local_layers:local_layers + fusion_layers]:
            fused = _run_layer(layer, fused, fused_mask)
        target, source = fused[:, :target.shape[1]], fused[:, target.shape[1]:]
    for layer in layers[local_layers + fusion_layers:]:
        target, source = _run_layer(layer, target, target_mask), _run_layer(layer, source, source_mask)
    return target, source


@dataclass
class FilterConfig:
    task: str  # "classification", "tagging" or "qa"
    local_layers: int  # m
    fusion_layers: int  # k
    num_labels: int = 2  # classification / tagging; QA has start and end
    # Eq. 6 weights. kl_weight None: paper 004's value for the task; target_label_weight None: 1 - kl_weight
    # when teacher logits are in the batch, 1 otherwise.
    source_label_weight: float = 1.0
    target_label_weight: float | None = None
    kl_weight: float | None = None
    temperature: float = 1.0  # self-teaching distillation temperature
    dropout: float | None = None  # before the head; None: the encoder's hidden dropout
    source_token_type: int | None = None  # token type given to every source token; None: keep the stream's own

    def __post_init__(self):
        if self.task not in TASKS:
            raise ValueError(f"unknown FILTER task {self.task!r}; known: {', '.join(TASKS)}")
        if self.task != "qa" and self.num_labels < 1:
            raise ValueError(f"num_labels must be positive, got {self.num_labels}")
        if self.temperature <= 0:
            raise ValueError(f"temperature must be positive, got {self.temperature}")

    @property
    def resolved_kl_weight(self) -> float:
        return DEFAULT_KL_WEIGHTS[self.task] if self.kl_weight is None else self.kl_weight


class FilterModel(nn.Module):
    """FILTER over ``encoder`` (a transformers ``BertModel`` / ``XLMRobertaModel``) with a task head.

    ``forward(input_ids, attention_mask, source_input_ids, source_attention_mask, ...)`` returns a dict:
    target-stream outputs (``logits``, or ``start_logits``/``end_logits``), source-stream outputs with a
    ``source_`` prefix, and given labels ``loss`` plus its terms ``loss_source``, ``loss_target``, ``loss_kl``.

    Labels: classification ``labels``/``source_labels`` ``[B]``; tagging ``[B, L]`` with -100 where no label
    (padding, continuation sub-words); QA ``start_positions``/``end_positions`` and ``source_start_positions``/
    ``source_end_positions`` ``[B]`` (-100: ignore). Teacher: ``teacher_logits`` or ``teacher_start_logits``/
    ``teacher_end_logits`` on the target stream, and ``teacher_mask`` ``[B, Lt]`` (default: ``attention_mask``)."""

    def __init__(self, encoder: PreTrainedModel, config: FilterConfig):
        super().__init__()
        encoder_layers(encoder)  # refuse an unsupported architecture at construction
        total = encoder.config.num_hidden_layers
        if config.local_layers + config.fusion_layers > total or min(config.local_layers, config.fusion_layers) < 0:
            raise ValueError(f"FILTER needs 0 <= m, 0 <= k, m + k <= {total}; got m = {config.local_layers}, "
                             f"k = {config.fusion_layers}")
        if config.source_token_type is not None and config.source_token_type >= getattr(
                encoder.config, "type_vocab_size", 0):
            raise ValueError(f"source_token_type {config.source_token_type} but the encoder has "
                             f"{getattr(encoder.config, 'type_vocab_size', 0)} token types")
        self.encoder = encoder
        self.config = config
        hidden = encoder.config.hidden_size
        dropout = config.dropout if config.dropout is not None else getattr(encoder.config, "hidden_dropout_prob", 0.1)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, 2 if config.task == "qa" else config.num_labels)
        # Initialised like the encoder's own layers (see trainer/models/span_extractor.py for why).
        nn.init.normal_(self.head.weight, std=getattr(encoder.config, "initializer_range", 0.02))
        nn.init.zeros_(self.head.bias)

    def _head(self, hidden: torch.Tensor, prefix: str) -> dict[str, torch.Tensor]:
        hidden = self.dropout(hidden)
        if self.config.task == "classification":
            return {f"{prefix}logits": self.head(hidden[:, 0])}
        logits = self.head(hidden)
        if self.config.task == "tagging":
            return {f"{prefix}logits": logits}
        start, end = logits.float().unbind(dim=-1)
        return {f"{prefix}start_logits": start, f"{prefix}end_logits": end}

    def _label_loss(self, out: dict, prefix: str, labels, start_positions, end_positions) -> torch.Tensor | None:
        task = self.config.task
        if task == "qa":
            if start_positions is None or end_positions is None:
                return None
            start = F.cross_entropy(out[f"{prefix}start_logits"], start_positions.long(), ignore_index=IGNORE_INDEX)
            end = F.cross_entropy(out[f"{prefix}end_logits"], end_positions.long(), ignore_index=IGNORE_INDEX)
            return (start + end) / 2
        if labels is None:
            return None
        logits = out[f"{prefix}logits"].float()
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1).long(),
                               ignore_index=IGNORE_INDEX)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, source_input_ids: torch.Tensor,
                source_attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None = None,
                source_token_type_ids: torch.Tensor | None = None, labels: torch.Tensor | None = None,
                source_labels: torch.Tensor | None = None, start_positions: torch.Tensor | None = None,
                end_positions: torch.Tensor | None = None, source_start_positions: torch.Tensor | None = None,
                source_end_positions: torch.Tensor | None = None, teacher_logits: torch.Tensor | None = None,
                teacher_start_logits: torch.Tensor | None = None, teacher_end_logits: torch.Tensor | None = None,
                teacher_mask: torch.Tensor | None = None, **_extras) -> dict[str, torch.Tensor]:
        if self.config.source_token_type is not None:
            source_token_type_ids = torch.full_like(source_input_ids, self.config.source_token_type)
        target, source = filter_encode(self.encoder, self.config.local_layers, self.config.fusion_layers,
                                       input_ids, attention_mask, source_input_ids, source_attention_mask,
                                       token_type_ids, source_token_type_ids)
        out = self._head(target, "")
        out.update(self._head(source, "source_"))

        terms: dict[str, tuple[float, torch.Tensor]] = {}
        source_loss = self._label_loss(out, "source_", source_labels, source_start_positions, source_end_positions)
        if source_loss is not None:
            terms["loss_source"] = (self.config.source_label_weight, source_loss)
        teacher = {"logits": teacher_logits} if self.config.task != "qa" else {
            "start_logits": teacher_start_logits, "end_logits": teacher_end_logits}
        has_teacher = all(value is not None for value in teacher.values())
        kl_weight = self.config.resolved_kl_weight
        if has_teacher:
            mask = attention_mask if teacher_mask is None else teacher_mask
            student = {key: out[key] for key in teacher}
            terms["loss_kl"] = (kl_weight, self_teaching_loss(self.config.task, student, teacher, mask,
                                                              self.config.temperature))
        target_loss = self._label_loss(out, "", labels, start_positions, end_positions)
        if target_loss is not None:
            weight = self.config.target_label_weight
            if weight is None:
                weight = 1.0 - kl_weight if has_teacher else 1.0
            terms["loss_target"] = (weight, target_loss)
        if terms:
            out["loss"] = sum(weight * value for weight, value in terms.values())
            out.update({name: value.detach() for name, (_, value) in terms.items()})
        return out
