"""The token-tagging head: a linear layer over every token state, cross-entropy on the first subword of each word."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel

IGNORE_INDEX = -100  # the label positions cross-entropy skips (later subwords, special tokens)


class TokenTagger(nn.Module):
    """Softmax tagger: dropout and a linear layer over the token states; cross-entropy on labelled
    positions (paper 002 eq. 1)."""

    def __init__(self, encoder: PreTrainedModel, num_labels: int, dropout: float | None = None):
        super().__init__()
        self.encoder = encoder
        if dropout is None:
            dropout = getattr(encoder.config, "hidden_dropout_prob", 0.1)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(encoder.config.hidden_size, num_labels)
        nn.init.normal_(self.classifier.weight, std=getattr(encoder.config, "initializer_range", 0.02))
        nn.init.zeros_(self.classifier.bias)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None, labels: torch.Tensor | None = None,
                **_extras) -> dict:
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            inputs["token_type_ids"] = token_type_ids
        hidden = self.encoder(**inputs).last_hidden_state
        logits = self.classifier(self.dropout(hidden))
        output = {"logits": logits}
        if labels is not None:
            output["loss"] = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]),
                                             labels.to(logits.device).reshape(-1), ignore_index=IGNORE_INDEX)
        return output
