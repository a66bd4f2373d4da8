"""mPMR's Wiki Anchor Extraction (paper 001 §2.1) as a pretraining objective: any encoder plus the span
extractor (trainer/models/span_extractor.py) on MRC shards, batches from ``MRCCollator``."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from transformers import PretrainedConfig

from trainer.config import ConfigError, DataConfig, build
from trainer.data.mrc_features import MRCCollator, MRCFeatureConfig
from trainer.models.backbone import encoder_without_pooler
from trainer.models.span_extractor import SpanExtractor, SpanExtractorConfig
from trainer.objectives.base import Objective

# What the mPMR pipeline writes in place of the entity in a query (pipelines/wiki_mrc; the manifest's
# config records it as mask_token).
PIPELINE_MASK_TOKEN = "[MASK]"

# Which cells of the score matrix the WAE loss covers (``objective.options.loss_mask``):
#   spans   - the context spans and the [CLS] cell (0, 0), as paper 001 §2.1 describes the objective;
#   authors - also the cells (0, j) of every context token j, as negatives: the mask of the authors' code
#             (DAMO-NLP-SG/PMR). Same scores and labels; only the normaliser and those extra cells differ.
LOSS_MASKS = ("spans", "authors")


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
    # spans (the default: the paper's description, and the loss every earlier run of the project trained
    # with) | authors (adds the (0, j) cells); see LOSS_MASKS.
    loss_mask: str = "spans"


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
        options = build(WaeOptions, {**lengths, **raw}, prefix="objective.options.")
        if options.loss_mask not in LOSS_MASKS:
            raise ConfigError(f"objective.options.loss_mask: {options.loss_mask!r} is not one of "
                             f"{', '.join(LOSS_MASKS)}")
        return options

    def build_model(self, encoder_name_or_config, tokenizer, options: WaeOptions) -> SpanExtractor:
        extractor = SpanExtractorConfig(intermediate_size=options.extractor_intermediate_size,
                                        dropout=options.extractor_dropout, max_span_length=options.max_span_length,
                                        cls_row_negatives=options.loss_mask == "authors")
        if isinstance(encoder_name_or_config, PretrainedConfig):
            model = SpanExtractor.from_encoder_config(encoder_name_or_config, extractor)
        else:
            model = SpanExtractor(encoder_without_pooler(encoder_name_or_config), extractor)  # checked, no code run
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
