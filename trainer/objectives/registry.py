"""Pretraining objectives by name: what shards they read, how they prepare the tokenizer, build the model and
collate batches. ``trainer.pretrain`` looks the configured ``objective.name`` up here.

- ``wae``: mPMR's Wiki Anchor Extraction (paper 001 §2.1) - any encoder plus the span extractor
  (trainer/models/span_extractor.py) on MRC shards, batches from ``MRCCollator``.
- ``clism``: CLISM + CACR + MLM (paper 000 eq. 9) - a masked-LM encoder plus W_s/W_e
  (trainer/objectives/clism_model.py) on CLISM shards, batches from ``ClismCollator``; imported on first use.

An objective turns ``objective.options`` (plus the data section's lengths and the run's seed) into its own
options object, rejecting unknown keys by name.
"""
from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from torch import nn
from transformers import PretrainedConfig

from trainer.config import ConfigError, DataConfig, build
from trainer.data.mrc_features import MRCCollator, MRCFeatureConfig
from trainer.models.span_extractor import SpanExtractor, SpanExtractorConfig

# What the mPMR pipeline writes in place of the entity in a query (pipelines/wiki_mrc; the manifest's
# config records it as mask_token).
PIPELINE_MASK_TOKEN = "[MASK]"


class Objective:
    """The registry's interface; see ``WaeObjective`` and ``ClismObjective``."""

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


# ---- wae ------------------------------------------------------------------------------------------------

@dataclass
class WaeOptions:
    max_length: int = 384
    max_query_length: int = 64
    # `[CLS] Q [SEP] [SEP] C [SEP]`; None: when the tokenizer takes no token type ids (XLM-R style).
    double_separator: bool | None = None
    max_span_length: int | None = None
    extractor_intermediate_size: int | None = None
    extractor_dropout: float | None = None
    # The entity placeholder in the shards' queries, replaced by the tokenizer's own mask token.
    query_mask_token: str = PIPELINE_MASK_TOKEN
    pad_to_multiple_of: int | None = 8


class QueryMaskCollator:
    """Replace the pipeline's entity placeholder in each query by the tokenizer's mask token (``<mask>`` for
    XLM-R), then collate. Answers are offsets into the context, so the query edit moves none of them."""

    def __init__(self, collate: Callable[[list[dict]], dict], placeholder: str, mask_token: str | None):
        self.collate, self.placeholder, self.mask_token = collate, placeholder, mask_token

    def __call__(self, rows: Sequence[dict]) -> dict:
        if self.mask_token and self.mask_token != self.placeholder:
            rows = [{**row, "query": row["query"].replace(self.placeholder, self.mask_token)} for row in rows]
        return self.collate(rows)


class WaeObjective(Objective):
    name, kind = "wae", "mrc"
    count_keys = ("answers_truncated", "made_unanswerable")

    def options(self, raw: dict, data: DataConfig | None = None, seed: int = 0) -> WaeOptions:
        lengths = {} if data is None else {"max_length": data.max_length, "max_query_length": data.max_query_length}
        return build(WaeOptions, {**lengths, **raw}, prefix="objective.options.")

    def build_model(self, encoder_name_or_config, tokenizer, options: WaeOptions) -> SpanExtractor:
        extractor = SpanExtractorConfig(intermediate_size=options.extractor_intermediate_size,
                                        dropout=options.extractor_dropout, max_span_length=options.max_span_length)
        if isinstance(encoder_name_or_config, PretrainedConfig):
            model = SpanExtractor.from_encoder_config(encoder_name_or_config, extractor)
        else:
            model = SpanExtractor.from_pretrained(encoder_name_or_config, extractor)
        if model.encoder.get_input_embeddings().num_embeddings < len(tokenizer):
            model.encoder.resize_token_embeddings(len(tokenizer))
        return model

    def collator(self, tokenizer, options: WaeOptions) -> QueryMaskCollator:
        double = options.double_separator
        if double is None:
            double = "token_type_ids" not in tokenizer.model_input_names
        features = MRCFeatureConfig(max_length=options.max_length, max_query_length=options.max_query_length,
                                    double_separator=double)
        collate = MRCCollator(tokenizer, features, pad_to_multiple_of=options.pad_to_multiple_of)
        return QueryMaskCollator(collate, options.query_mask_token, tokenizer.mask_token)

    def max_input_length(self, options: WaeOptions) -> int:
        return options.max_length


# ---- clism ----------------------------------------------------------------------------------------------

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


OBJECTIVES: dict[str, Objective] = {}


def register_objective(objective: Objective) -> Objective:
    OBJECTIVES[objective.name] = objective
    return objective


def get_objective(name: str) -> Objective:
    if name not in OBJECTIVES:
        raise ConfigError(f"unknown objective {name!r} (known: {', '.join(sorted(OBJECTIVES))})")
    return OBJECTIVES[name]


register_objective(WaeObjective())
register_objective(ClismObjective())
