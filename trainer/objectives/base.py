"""The interface of a pretraining objective: what shards it reads, how it prepares the tokenizer, builds the
model and collates batches, and how it reads its ``objective.options``."""
from __future__ import annotations

from typing import Any, Callable, Sequence

from torch import nn
from transformers import PretrainedConfig

from trainer.config import DataConfig


class Objective:
    """What ``trainer.pretrain`` asks of an objective (``trainer/objectives/wae.py`` and ``clism_cacr.py`` are
    the two there are; ``registry.py`` lists them by name)."""

    name: str
    kind: str  # the shard kind read
    # Batch entries holding per-example counts (tensors) or count dicts, summed into the metrics log.
    count_keys: Sequence[str] = ()

    def options(self, raw: dict, data: DataConfig | None = None, seed: int = 0) -> Any:
        raise NotImplementedError

    def prepare_tokenizer(self, tokenizer, options: Any = None):
        return tokenizer

    def build_model(self, encoder_name_or_config: str | PretrainedConfig, tokenizer, options: Any) -> nn.Module:
        raise NotImplementedError

    def collator(self, tokenizer, options: Any) -> Callable[[list[dict]], dict]:
        raise NotImplementedError

    def max_input_length(self, options: Any) -> int:
        """The longest sequence (in tokens) the collator can make: the encoder must have the positions."""
        raise NotImplementedError
