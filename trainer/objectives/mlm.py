"""Masked-language-model perplexity per language, the MLM half of paper 003's Table 1 measurement.

Paper 003 (GEM fine-tuning) reports MLM perplexity per language on held-out sentences before and after
fine-tuning, to see how much of the pretrained MLM ability a fine-tuning constraint keeps. Here every sentence is
masked on its own, with a generator seeded by ``(seed, sentence id)`` (DESIGN.md: deterministic randomness), so
the same sentence gets the same mask whatever batch it lands in and whatever model is being probed: scores
before and after fine-tuning are measured on identical inputs.

Masking is BERT's, shared with pretraining (``trainer/data/mlm_masking.py``): 15% of the non-special tokens are
chosen; of those, 80% become the mask token, 10% a random non-special token and 10% stay. A short sentence may
get no chosen token; it then contributes nothing and is counted (``sentences_without_mask``). Perplexity is
``exp(total negative log-likelihood / total masked tokens)`` over all sentences of a language.

``MaskedLanguageModel`` pairs an encoder (the ``encoder`` of a training module) with the MLM head of a masked LM,
its decoder tied to that encoder's word embeddings: the probe and GEM's MLM memory
(``trainer/adaptation/constraints.py``) score the very encoder being fine-tuned.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel

from trainer.data.mlm_masking import IGNORE_INDEX, MaskingConfig, mask_tokens, row_generator


def replacement_ids(tokenizer) -> torch.Tensor:
    """The ids a random replacement draws from: the vocabulary without special tokens."""
    special = set(tokenizer.all_special_ids)
    return torch.tensor([i for i in range(len(tokenizer)) if i not in special], dtype=torch.long)


def mask_sentence(input_ids: Sequence[int], special_tokens_mask: Sequence[int], *, seed: int, key: str,
                  mask_token_id: int, replacements: torch.Tensor,
                  config: MaskingConfig | None = None) -> tuple[list[int], list[int]]:
    """BERT masking of one tokenised sentence (``trainer/data/mlm_masking.py``), drawn from a generator seeded by
    ``(seed, key)``. Returns ``(masked_ids, labels)``; labels are -100 where nothing is predicted."""
    ids = torch.tensor(list(input_ids), dtype=torch.long)
    maskable = torch.tensor(list(special_tokens_mask), dtype=torch.long) == 0
    corrupted, labels = mask_tokens(ids, maskable, mask_token_id, replacements, config or MaskingConfig(),
                                    row_generator(seed, key))
    return corrupted.tolist(), labels.tolist()


def pad_batch(rows: Sequence[dict[str, list[int]]], pad_values: Mapping[str, int]) -> dict[str, torch.Tensor]:
    """Right-pads lists of ints to the longest row: ``{key: LongTensor [B, L]}``."""
    length = max(len(row["input_ids"]) for row in rows)
    batch = {}
    for key, pad in pad_values.items():
        if key not in rows[0]:
            continue
        batch[key] = torch.tensor([row[key] + [pad] * (length - len(row[key])) for row in rows], dtype=torch.long)
    return batch


def build_mlm_batches(tokenizer, sentences: Sequence[tuple[str, str]], *, seed: int = 0, batch_size: int = 32,
                      max_length: int = 128, masking: MaskingConfig | None = None) -> list[dict]:
    """Masked, padded batches of ``(sentence id, text)`` pairs, in the given order.

    Each batch holds ``input_ids``, ``attention_mask``, ``labels`` (and ``token_type_ids`` when the tokenizer
    makes them) as tensors, plus ``ids`` (the sentence ids) as a list."""
    if tokenizer.mask_token_id is None:
        raise ValueError("the tokenizer has no mask token; MLM needs one")
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    replacements = replacement_ids(tokenizer)
    pads = {"input_ids": tokenizer.pad_token_id, "attention_mask": 0, "labels": IGNORE_INDEX, "token_type_ids": 0}
    batches = []
    for start in range(0, len(sentences), batch_size):
        chunk = sentences[start:start + batch_size]
        encoded = tokenizer([text for _, text in chunk], truncation=True, max_length=max_length,
                            return_special_tokens_mask=True)
        rows = []
        for n, (sentence_id, _) in enumerate(chunk):
            ids, labels = mask_sentence(encoded["input_ids"][n], encoded["special_tokens_mask"][n], seed=seed,
                                        key=str(sentence_id), mask_token_id=tokenizer.mask_token_id,
                                        replacements=replacements, config=masking)
            row = {"input_ids": ids, "labels": labels, "attention_mask": encoded["attention_mask"][n]}
            if "token_type_ids" in encoded:
                row["token_type_ids"] = encoded["token_type_ids"][n]
            rows.append(row)
        batch = pad_batch(rows, pads)
        batch["ids"] = [str(sentence_id) for sentence_id, _ in chunk]
        batches.append(batch)
    return batches


def _mlm_head_of(masked_lm: PreTrainedModel) -> nn.Module:
    # A transformers masked LM has two children: its base model (``base_model_prefix``: ``bert``, ``roberta``)
    # and the head (``cls``, ``lm_head``); the head is the child that is not the base model.
    children = [(name, module) for name, module in masked_lm.named_children()
                if name != masked_lm.base_model_prefix]
    if len(children) != 1:
        raise ValueError(f"{type(masked_lm).__name__}: expected one head beside the base model, found "
                         f"{[name for name, _ in children]}")
    return children[0][1]


class MaskedLanguageModel(nn.Module):
    """An encoder plus an MLM head whose decoder is tied to that encoder's word embeddings.

    ``forward(input_ids, attention_mask, token_type_ids=None, labels=None)`` returns ``{"logits", "loss"}``
    (loss: mean cross-entropy over the labelled positions, present when labels are given)."""

    def __init__(self, encoder: PreTrainedModel, head: nn.Module):
        super().__init__()
        self.encoder = encoder
        self.head = head

    @classmethod
    def from_masked_lm(cls, masked_lm: PreTrainedModel, encoder: PreTrainedModel | None = None
                       ) -> "MaskedLanguageModel":
        """The head of an ``AutoModelForMaskedLM`` on its own base model, or on ``encoder`` (the encoder of a
        training module, e.g. loaded from the same checkpoint). In the second case the head is copied and its
        decoder re-tied to ``encoder``'s word embeddings, so the MLM loss depends on the encoder being trained
        and ``masked_lm`` is left untouched."""
        head = _mlm_head_of(masked_lm)
        if encoder is None or encoder is masked_lm.base_model:
            return cls(masked_lm.base_model, head)
        decoder = masked_lm.get_output_embeddings()
        decoder_name = next(name for name, module in head.named_modules() if module is decoder)
        head = copy.deepcopy(head)
        embeddings = encoder.get_input_embeddings()
        if embeddings.weight.shape != decoder.weight.shape:
            raise ValueError(f"the MLM decoder has shape {tuple(decoder.weight.shape)} but the encoder's word "
                             f"embeddings {tuple(embeddings.weight.shape)}: not the same vocabulary")
        head.get_submodule(decoder_name).weight = embeddings.weight
        return cls(encoder, head)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None, labels: torch.Tensor | None = None,
                **_extras) -> dict[str, torch.Tensor]:
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            inputs["token_type_ids"] = token_type_ids
        logits = self.head(self.encoder(**inputs).last_hidden_state)
        out = {"logits": logits}
        if labels is not None:
            out["loss"] = F.cross_entropy(logits.float().flatten(0, 1), labels.flatten(), ignore_index=IGNORE_INDEX)
        return out


@dataclass
class Perplexity:
    lang: str
    perplexity: float
    mean_nll: float  # nats per masked token
    masked_tokens: int
    sentences: int
    # Sentences with no maskable token (empty after tokenisation): counted, contribute nothing.
    sentences_without_mask: int


def _module_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def mlm_perplexity(model: nn.Module, tokenizer, sentences: Sequence[tuple[str, str]], *, lang: str = "",
                   seed: int = 0, batch_size: int = 32, max_length: int = 128,
                   masking: MaskingConfig | None = None) -> Perplexity:
    """Perplexity of ``model`` (a ``MaskedLanguageModel`` or any transformers masked LM: something returning
    ``logits``) on ``(sentence id, text)`` pairs, each masked deterministically by ``(seed, id)``.

    Runs in eval mode (no dropout) and restores the model's mode."""
    if not sentences:
        raise ValueError(f"no sentences to score for language {lang!r}")
    device = _module_device(model)
    was_training = model.training
    model.eval()
    total_nll, total_masked, without_mask = 0.0, 0, 0
    try:
        for batch in build_mlm_batches(tokenizer, sentences, seed=seed, batch_size=batch_size,
                                       max_length=max_length, masking=masking):
            labels = batch.pop("labels").to(device)
            batch.pop("ids")
            logits = model(**{key: value.to(device) for key, value in batch.items()})["logits"]
            nll = F.cross_entropy(logits.float().flatten(0, 1), labels.flatten(), ignore_index=IGNORE_INDEX,
                                  reduction="sum")
            per_sentence = (labels != IGNORE_INDEX).sum(dim=1)
            total_nll += nll.item()
            total_masked += int(per_sentence.sum())
            without_mask += int((per_sentence == 0).sum())
    finally:
        model.train(was_training)
    if total_masked == 0:
        raise ValueError(f"no maskable token in {len(sentences)} sentences of language {lang!r}")
    mean_nll = total_nll / total_masked
    return Perplexity(lang=lang, perplexity=math.exp(mean_nll), mean_nll=mean_nll, masked_tokens=total_masked,
                      sentences=len(sentences), sentences_without_mask=without_mask)


def perplexity_by_language(model: nn.Module, tokenizer, sentences_by_lang: Mapping[str, Sequence[tuple[str, str]]],
                           **options) -> dict[str, Perplexity]:
    """``mlm_perplexity`` for every language of ``sentences_by_lang`` (same seed and options for all)."""
    return {lang: mlm_perplexity(model, tokenizer, sentences, lang=lang, **options)
            for lang, sentences in sentences_by_lang.items()}
