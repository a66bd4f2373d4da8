"""CLISM + CACR + MLM (paper 000 eq. 9) as a pretraining objective: a masked-LM encoder plus W_s/W_e
(trainer/objectives/clism_model.py) on CLISM shards, batches from ``ClismCollator``. The model, features and
masking modules are imported on first use, so listing the objectives costs nothing of them."""
from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import Any

from torch import nn
from transformers import PretrainedConfig

from trainer.config import ConfigError, DataConfig, build
from trainer.objectives.base import Objective


@dataclass
class ClismOptions:
    """The union of ClismObjectiveConfig (loss weights, CACR scale, candidates) and ClismFeatureConfig
    (lengths, [QUE], masking) fields, set by name; ``masking`` is MaskingConfig's fields."""

    model: Any
    features: Any
    seed: int = 0


class ClismObjective(Objective):
    name, kind = "clism", "clism"
    count_keys = ("feature_stats",)

    def options(self, raw: dict, data: DataConfig | None = None, seed: int = 0) -> ClismOptions:
        from trainer.data.clism_features import ClismFeatureConfig
        from trainer.data.mlm_masking import MaskingConfig
        from trainer.objectives.clism_model import ClismObjectiveConfig

        model_fields = {f.name for f in dataclasses.fields(ClismObjectiveConfig)}
        feature_fields = {f.name for f in dataclasses.fields(ClismFeatureConfig)}
        unknown = sorted(set(raw) - model_fields - feature_fields)
        if unknown:
            raise ConfigError(f"unknown key 'objective.options.{unknown[0]}' for clism (known: "
                              f"{', '.join(sorted(model_fields | feature_fields))})")
        feature_values = {k: v for k, v in raw.items() if k in feature_fields and k != "masking"}
        if data is not None:
            feature_values.setdefault("max_sentence_tokens", data.max_length)
        try:
            masking = MaskingConfig(**_typed(MaskingConfig, raw.get("masking", {}), "objective.options.masking."))
            features = ClismFeatureConfig(masking=masking, **_typed(ClismFeatureConfig, feature_values,
                                                                    "objective.options."))
            model = ClismObjectiveConfig(**_typed(ClismObjectiveConfig, {k: v for k, v in raw.items()
                                                                         if k in model_fields}, "objective.options."))
        except ConfigError:
            raise  # names its key already
        except (TypeError, ValueError) as err:
            raise ConfigError(f"objective.options: {err}") from None
        return ClismOptions(model=model, features=features, seed=seed)

    def prepare_tokenizer(self, tokenizer, options: ClismOptions | None = None):
        from trainer.data.clism_features import add_que_token
        add_que_token(tokenizer, que_token=options.features.que_token if options else "[QUE]")
        return tokenizer

    def build_model(self, encoder_name_or_config, tokenizer, options: ClismOptions) -> nn.Module:
        from trainer.objectives.clism_model import ClismPretrainer
        que = options.features.que_token
        if isinstance(encoder_name_or_config, PretrainedConfig):
            return ClismPretrainer.from_encoder_config(encoder_name_or_config, tokenizer, options.model, que)
        return ClismPretrainer.from_pretrained(encoder_name_or_config, tokenizer, options.model, que)

    def collator(self, tokenizer, options: ClismOptions):
        from trainer.data.clism_features import ClismCollator
        return ClismCollator(tokenizer, options.features, seed=options.seed)

    def max_input_length(self, options: ClismOptions) -> int:
        # The pair: two sentences and up to four special tokens.
        return 2 * options.features.max_sentence_tokens + 4


def _typed(cls: type, values: dict, prefix: str) -> dict:
    """``values`` converted to the field types of dataclass ``cls`` (YAML reads 1e-5 as a string)."""
    built = build(_without_nested(cls), values, prefix=prefix)
    return {k: getattr(built, k) for k in values}


def _without_nested(cls: type) -> type:
    # A stand-in dataclass with cls's non-dataclass fields (types resolved in cls's own module), every one
    # optional, so config.build can convert and check them.
    hints = typing.get_type_hints(cls)
    scalar = [(f.name, hints[f.name], dataclasses.field(default=None)) for f in dataclasses.fields(cls)
              if not dataclasses.is_dataclass(hints[f.name])]
    return dataclasses.make_dataclass(f"_{cls.__name__}Fields", scalar)
