"""CLISM + CACR + MLM pretraining (paper 000 §3.1-3.3) on any transformers masked-LM encoder.

- **CLISM** (eq. 1-4): for each ``[QUE]`` q with final hidden state x_q, s_q = W_s x_q and e_q = W_e x_q; the
  start (end) distribution is a softmax of x_k·s_q (x_k·e_q) over the candidate positions k; the loss is
  -log P(start = answer start) - log P(end = answer end), averaged over every kept ``[QUE]`` of the batch.
  Candidates: the **target part** of ``[CLS] masked source [SEP] target [SEP]`` by default, since the answer
  lives there by construction (the passage-only softmax of extractive QA); ``candidates="sequence"`` takes
  every non-padding position, as eq. 2-3 literally write it.
- **CACR** (eq. 5-8): r̂^s and r^t are attention-masked mean pools of the masked-source and target tokens of
  that same forward pass (special tokens excluded), r^s the mean pool of ``[CLS] source [SEP]``'s source
  tokens from a second forward. L(a, b) = -log softmax_j(scale·cos(a_i, b_j))[i] over the in-batch candidates
  b_j (the other rows of the local micro-batch are the negatives; nothing is gathered across DDP ranks), and
  L_cacr = L(r^t, r̂^s) + L(r^s, r̂^s) + L(r^t, r^s).

  **τ = 20 is read as a scale** (logits = 20·cos, i.e. a temperature of 0.05, SimCSE's value), not as a
  divisor. Cosines lie in [-1, 1]; divided by 20 they lie in [-0.05, 0.05], so softmax over a batch of 64
  stays almost uniform whatever the encoder does: the loss cannot fall below log(1 + 63·e^-0.1) ≈ 4.06
  (chance: log 64 ≈ 4.16), and its gradients shrink twenty-fold. With 20·cos
  the positive can dominate (the loss can approach 0), which is what a contrastive objective needs.
- **MLM**: the encoder's own head predicts the tokens the collator selected (labels -100 elsewhere).

The total is w_clism·L_clism + w_cacr·L_cacr + w_mlm·L_mlm (eq. 9). Every term is computed in every step,
also at weight 0 and for a batch without questions, so each parameter takes part in each backward pass and
DDP needs no ``find_unused_parameters``. Losses are computed in float32 whatever the autocast dtype.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoModelForMaskedLM, PretrainedConfig, PreTrainedModel

from trainer.config import ConfigError
from trainer.data.clism_features import SOURCE, TARGET, add_que_token
from trainer.data.mlm_masking import IGNORE_INDEX
from trainer.loop.distributed import all_gather_rows
from trainer.models.loading import load_pretrained, model_from_config

_CANDIDATES = ("target", "sequence")
# Where masked-LM models keep their head (BERT, RoBERTa/XLM-R): applied to the selected positions only,
# rather than computing B x L x V logits for XLM-R's 250k vocabulary.
_MLM_HEADS = ("cls", "lm_head")


@dataclass
class ClismObjectiveConfig:
    clism_weight: float = 1.0
    cacr_weight: float = 1.0
    mlm_weight: float = 1.0
    # τ of eq. 7 (paper 000 §4.2: 20), read as a scale on the cosine: see the module docstring.
    cacr_scale: float = 20.0
    # Start/end candidates of eq. 2-3: "target" (the target sentence's tokens) or "sequence" (all tokens).
    candidates: str = "target"
    # CACR's negatives in training: "global" (the rows of every DDP rank: the step's mini-batch) or "rank"
    # (this rank's micro-batch only; no communication). Evaluation always uses its own batch: ranks may
    # evaluate different numbers of batches, and a collective would wait for the missing ones.
    cacr_negatives: str = "global"

    def __post_init__(self):
        if self.candidates not in _CANDIDATES:
            raise ConfigError(f"objective.options.candidates must be one of {', '.join(_CANDIDATES)}, not "
                              f"{self.candidates!r}")
        if self.cacr_negatives not in ("global", "rank"):
            raise ConfigError(f"objective.options.cacr_negatives must be global or rank, not {self.cacr_negatives!r}")


def clism_span_loss(start_logits: torch.Tensor, end_logits: torch.Tensor, candidate_mask: torch.Tensor,
                    answer_starts: torch.Tensor, answer_ends: torch.Tensor,
                    question_mask: torch.Tensor) -> torch.Tensor:
    """Eq. 4 averaged over the questions: logits ``[B, Q, L]``, ``candidate_mask`` ``[B, L]`` (positions
    the softmax runs over), answers and ``question_mask`` ``[B, Q]``. 0 (with a graph) when no question."""
    candidates = candidate_mask[:, None, :].bool()
    lowest = torch.finfo(torch.float32).min  # not -inf: a row without candidates must not make NaNs

    def nll(logits: torch.Tensor, answers: torch.Tensor) -> torch.Tensor:
        log_probs = logits.float().masked_fill(~candidates, lowest).log_softmax(dim=-1)
        return -log_probs.gather(-1, answers[..., None].long()).squeeze(-1)

    questions = question_mask.bool()
    # masked_fill, not a product: a padding question may point at a non-candidate, whose loss is huge.
    per_question = (nll(start_logits, answer_starts) + nll(end_logits, answer_ends)).masked_fill(~questions, 0.0)
    return per_question.sum() / questions.sum().clamp(min=1)


def info_nce(anchors: torch.Tensor, candidates: torch.Tensor, scale: float, offset: int = 0) -> torch.Tensor:
    """Eq. 7: mean over i of -log softmax_j(scale·cos(anchors_i, candidates_j))[offset + i]; row offset + i
    of ``candidates`` is the positive of anchor i, every other row a negative."""
    similarity = F.normalize(anchors.float(), dim=-1) @ F.normalize(candidates.float(), dim=-1).T
    labels = offset + torch.arange(anchors.shape[0], device=anchors.device)
    return F.cross_entropy(scale * similarity, labels)


def cacr_loss(target: torch.Tensor, masked_source: torch.Tensor, source: torch.Tensor, scale: float,
              across_ranks: bool = False) -> torch.Tensor:
    """Eq. 8: L(r^t, r̂^s) + L(r^s, r̂^s) + L(r^t, r^s) over ``[B, d]`` pooled representations.

    ``across_ranks``: the candidates are the rows of every DDP rank ("others in mini-batch are negatives",
    §3.2, the mini-batch being the whole step's), each rank's anchors its own rows. The mean of the ranks'
    losses then equals the loss of one process over all rows, and so do the gradients DDP averages.
    Without a process group it is the plain in-batch loss."""
    def candidates(rows: torch.Tensor) -> tuple[torch.Tensor, int]:
        return all_gather_rows(rows) if across_ranks else (rows, 0)

    all_masked, offset = candidates(masked_source)
    all_source, _ = candidates(source)
    return (info_nce(target, all_masked, scale, offset) + info_nce(source, all_masked, scale, offset)
            + info_nce(target, all_source, scale, offset))


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``[B, L, d] -> [B, d]``: the mean of the positions where ``mask`` is true."""
    weights = mask.float()[..., None]  # float32: a bf16 sum over a sentence loses digits
    return (hidden.float() * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)


class ClismPretrainer(nn.Module):
    """An ``AutoModelForMaskedLM`` (``encoder``, its MLM head included) plus CLISM's W_s and W_e.

    ``forward(**batch)`` on a ``ClismCollator`` batch returns ``{"loss", "loss_clism", "loss_cacr",
    "loss_mlm"}``; keys it does not use (ids, counts) are ignored."""

    def __init__(self, encoder: PreTrainedModel, config: ClismObjectiveConfig | None = None):
        super().__init__()
        self.encoder = encoder
        self.config = config or ClismObjectiveConfig()
        hidden = encoder.config.hidden_size
        # Eq. 1 has no bias. Initialised like the encoder's layers, so start/end logits begin small.
        self.start_projection = nn.Linear(hidden, hidden, bias=False)  # W_s
        self.end_projection = nn.Linear(hidden, hidden, bias=False)  # W_e
        std = getattr(encoder.config, "initializer_range", 0.02)
        for layer in (self.start_projection, self.end_projection):
            nn.init.normal_(layer.weight, std=std)
        self._mlm_head = next((name for name in _MLM_HEADS if isinstance(getattr(encoder, name, None), nn.Module)),
                              None)

    @classmethod
    def from_encoder_config(cls, encoder_config: PretrainedConfig, tokenizer,
                            config: ClismObjectiveConfig | None = None, que_token: str = "[QUE]") -> "ClismPretrainer":
        """A randomly initialised masked-LM encoder (tests, training from scratch); adds ``que_token`` to
        the tokenizer and sizes the embeddings to it."""
        encoder = model_from_config(AutoModelForMaskedLM, encoder_config)
        add_que_token(tokenizer, encoder, que_token)
        return cls(encoder, config)

    @classmethod
    def from_pretrained(cls, name_or_path: str, tokenizer, config: ClismObjectiveConfig | None = None,
                        que_token: str = "[QUE]", **kwargs) -> "ClismPretrainer":
        """A pretrained masked-LM (local path or model name) with fresh W_s/W_e; adds ``que_token`` to the
        tokenizer and resizes the embeddings for it."""
        encoder = load_pretrained(AutoModelForMaskedLM, name_or_path, **kwargs)
        add_que_token(tokenizer, encoder, que_token)
        return cls(encoder, config)

    def _hidden(self, input_ids, attention_mask, token_type_ids) -> torch.Tensor:
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            inputs["token_type_ids"] = token_type_ids
        return self.encoder.base_model(**inputs).last_hidden_state

    def _hidden_and_mlm_loss(self, input_ids, attention_mask, token_type_ids,
                             mlm_labels) -> tuple[torch.Tensor, torch.Tensor]:
        selected = mlm_labels != IGNORE_INDEX
        if self._mlm_head is not None:
            hidden = self._hidden(input_ids, attention_mask, token_type_ids)
            logits = getattr(self.encoder, self._mlm_head)(hidden[selected])
        else:  # an unknown head layout: the model's full output (B x L x V logits)
            inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
            if token_type_ids is not None:
                inputs["token_type_ids"] = token_type_ids
            output = self.encoder(**inputs, output_hidden_states=True)
            hidden, logits = output.hidden_states[-1], output.logits[selected]
        loss = F.cross_entropy(logits.float(), mlm_labels[selected], reduction="sum")
        return hidden, loss / selected.sum().clamp(min=1)

    def span_logits(self, hidden: torch.Tensor, que_positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Eq. 1-3 before the softmax: ``[B, Q, L]`` start and end logits x_k·(W x_q) of each question."""
        que_states = hidden.gather(1, que_positions[..., None].expand(-1, -1, hidden.shape[-1]))
        start = torch.einsum("bqd,bld->bql", self.start_projection(que_states), hidden)
        end = torch.einsum("bqd,bld->bql", self.end_projection(que_states), hidden)
        return start, end

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, sequence_ids: torch.Tensor,
                mlm_labels: torch.Tensor, que_positions: torch.Tensor, answer_starts: torch.Tensor,
                answer_ends: torch.Tensor, question_mask: torch.Tensor, source_input_ids: torch.Tensor,
                source_attention_mask: torch.Tensor, source_sequence_ids: torch.Tensor,
                token_type_ids: torch.Tensor | None = None, source_token_type_ids: torch.Tensor | None = None,
                **_batch_extras) -> dict[str, torch.Tensor]:
        config = self.config
        hidden, loss_mlm = self._hidden_and_mlm_loss(input_ids, attention_mask, token_type_ids, mlm_labels)

        start_logits, end_logits = self.span_logits(hidden, que_positions)
        candidates = sequence_ids == TARGET if config.candidates == "target" else attention_mask.bool()
        loss_clism = clism_span_loss(start_logits, end_logits, candidates, answer_starts, answer_ends,
                                     question_mask)

        source_hidden = self._hidden(source_input_ids, source_attention_mask, source_token_type_ids)
        loss_cacr = cacr_loss(target=mean_pool(hidden, sequence_ids == TARGET),
                              masked_source=mean_pool(hidden, sequence_ids == SOURCE),
                              source=mean_pool(source_hidden, source_sequence_ids == SOURCE),
                              scale=config.cacr_scale,
                              across_ranks=self.training and config.cacr_negatives == "global")

        loss = config.clism_weight * loss_clism + config.cacr_weight * loss_cacr + config.mlm_weight * loss_mlm
        return {"loss": loss, "loss_clism": loss_clism, "loss_cacr": loss_cacr, "loss_mlm": loss_mlm}
