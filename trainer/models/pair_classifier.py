"""The sentence-pair classification head: a linear layer over the [CLS] state."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel


class PairClassifier(nn.Module):
    """A classification head on the first token (dropout, dense + tanh, dropout, linear)."""

    def __init__(self, encoder: PreTrainedModel, num_labels: int, dropout: float | None = None):
        super().__init__()
        self.encoder = encoder
        hidden = encoder.config.hidden_size
        if dropout is None:
            dropout = getattr(encoder.config, "hidden_dropout_prob", 0.1)
        self.dropout = nn.Dropout(dropout)
        self.dense = nn.Linear(hidden, hidden)
        self.out_proj = nn.Linear(hidden, num_labels)
        for layer in (self.dense, self.out_proj):
            nn.init.normal_(layer.weight, std=getattr(encoder.config, "initializer_range", 0.02))
            nn.init.zeros_(layer.bias)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None, labels: torch.Tensor | None = None,
                **_extras) -> dict:
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            inputs["token_type_ids"] = token_type_ids
        first = self.encoder(**inputs).last_hidden_state[:, 0]
        logits = self.out_proj(self.dropout(torch.tanh(self.dense(self.dropout(first)))))
        output = {"logits": logits}
        if labels is not None:
            output["loss"] = F.cross_entropy(logits.float(), labels.to(logits.device))
        return output
