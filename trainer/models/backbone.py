"""The backbone of a run: its tokenizer, and the encoder a head sits on - a pretrained checkpoint or model name,
or a from-scratch architecture sized to the tokenizer. Pretraining and fine-tuning build theirs here.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

from transformers import AutoConfig, AutoModel, AutoModelForMaskedLM, PretrainedConfig

from trainer.config import ConfigError, ModelConfig, TokenizerConfig
from trainer.loop.distributed import barrier
from trainer.models.loading import load_pretrained, load_tokenizer_from, model_from_config

logger = logging.getLogger(__name__)
TOKENIZER_DIR = "tokenizer"  # under output_dir: a tokenizer trained for the run


def load_tokenizer(tokenizer: TokenizerConfig, model: ModelConfig, output_dir: str | Path, resume: Path | None,
                   is_main: bool, train: Callable[[], object]):
    """The run's tokenizer: the checkpoint's when resuming, a given one, or one ``train()`` makes (rank 0 trains
    and saves it under ``output_dir/tokenizer``, then every rank reads that copy, so all hold the same one)."""
    if resume is not None:
        return load_tokenizer_from(resume)
    if tokenizer.path is not None:
        return load_tokenizer_from(tokenizer.path)
    if tokenizer.train_vocab_size is not None:
        directory = Path(output_dir) / TOKENIZER_DIR
        if is_main and not (directory / "tokenizer.json").is_file():
            trained = train()
            trained.save_pretrained(directory)
            logger.info("trained a WordPiece tokenizer of %d pieces into %s", len(trained), directory)
        barrier()
        return load_tokenizer_from(directory)
    return load_tokenizer_from(model.name_or_path)


def encoder_source(model: ModelConfig, tokenizer) -> str | PretrainedConfig:
    """A model name/path, or the from-scratch architecture sized to the tokenizer."""
    if model.name_or_path is not None:
        return model.name_or_path
    fields = dict(model.from_scratch)
    model_type = fields.pop("model_type")
    fields["vocab_size"] = len(tokenizer)  # the tokenizer's actual size, special tokens included
    fields.setdefault("pad_token_id", tokenizer.pad_token_id)
    for name in ("bos_token_id", "eos_token_id"):
        token = getattr(tokenizer, name.replace("_id", ""), None)
        if token is not None:
            fields.setdefault(name, tokenizer.convert_tokens_to_ids(token))
    return AutoConfig.for_model(model_type, **fields)


def check_positions(encoder_config: PretrainedConfig, length: int) -> None:
    """Fail before training, not at the first long batch, when inputs can outgrow the position table."""
    positions = getattr(encoder_config, "max_position_embeddings", None)
    if positions is None:
        return
    if encoder_config.model_type in ("roberta", "xlm-roberta", "camembert"):
        positions -= (encoder_config.pad_token_id or 0) + 1  # RoBERTa positions start after the padding id
    if length > positions:
        raise ConfigError(f"inputs of up to {length} tokens (data.max_length) do not fit the encoder's "
                          f"{positions} positions (model max_position_embeddings)")


def encoder_without_pooler(name_or_path: str | PretrainedConfig):
    """The encoder of a directory/name (``from_pretrained``) or an architecture (``from_config``), without the
    pooler: the heads read token states, and training saves no pooler."""
    if isinstance(name_or_path, PretrainedConfig):
        try:
            return model_from_config(AutoModel, name_or_path, add_pooling_layer=False)
        except TypeError:
            return model_from_config(AutoModel, name_or_path)
    try:
        return load_pretrained(AutoModel, name_or_path, add_pooling_layer=False)
    except TypeError:
        return load_pretrained(AutoModel, name_or_path)


def masked_lm_of(source: str | PretrainedConfig, vocabulary: int):
    """The masked LM of a backbone (a checkpoint's MLM head, or a fresh one), its embeddings at least
    ``vocabulary`` rows."""
    masked_lm = load_pretrained(AutoModelForMaskedLM, source) if isinstance(source, str) else \
        model_from_config(AutoModelForMaskedLM, source)
    if masked_lm.get_input_embeddings().num_embeddings < vocabulary:
        masked_lm.resize_token_embeddings(vocabulary)
    return masked_lm


def build_encoder(model: ModelConfig, tokenizer, with_mlm_head: bool = False):
    """``(encoder, masked_lm)``: the backbone without pooler, and - when asked for (MLM memories) - the masked
    LM whose base model it is (its head scores the memories; a checkpoint without an MLM head gets a fresh
    one)."""
    source = encoder_source(model, tokenizer)
    if with_mlm_head:
        masked_lm = masked_lm_of(source, len(tokenizer))
        return masked_lm.base_model, masked_lm
    encoder = encoder_without_pooler(source)
    if encoder.get_input_embeddings().num_embeddings < len(tokenizer):
        encoder.resize_token_embeddings(len(tokenizer))
    return encoder, None
