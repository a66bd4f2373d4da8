"""Paper 003's episodic memories: what a constraint keeps the model good at - MLM on sentences per language,
XSR on parallel pairs - each a loss on the current model (``EpisodicMemory.loss(model, step)``); and the
memories a run's ``constraint.memories`` section names (``build_memories``)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, Sequence

import torch
from torch import nn

from trainer.data.mlm_masking import MaskingConfig
from trainer.data.readers import read_parallel, read_sentences_file
from trainer.loop.checkpoint import unwrap
from trainer.objectives.mlm import MaskedLanguageModel, build_mlm_batches
from trainer.objectives.xsr import sentence_embeddings, tokenize_batch, xsr_contrastive_loss
from trainer.tasks.base import model_inputs


@dataclass
class MemoryConfig:
    """Episodic memories of paper 003: MLM sentences per language, XSR parallel pairs."""

    mlm: dict[str, Any] = field(default_factory=dict)  # language -> text file, one sentence per line
    xsr: dict[str, Any] = field(default_factory=dict)  # name -> [source file, target file], line-parallel
    size: int = 256  # sentences (pairs) kept per memory
    batch_size: int = 16  # paper 003 Appendix A
    max_length: int = 128
    temperature: float = 0.05  # XSR InfoNCE


class EpisodicMemory(Protocol):
    """One remembered task: a name (for logs) and its loss on the current model at a given step."""

    name: str

    def loss(self, model: nn.Module, step: int) -> torch.Tensor: ...


class MLMMemory:
    """An MLM memory: pre-masked batches scored by an MLM head on the training module's encoder.

    Build ``masked_lm`` with ``MaskedLanguageModel.from_masked_lm(pretrained_masked_lm, model.encoder)`` so the
    head's decoder is the encoder's word embeddings. One memory is one constraint: give one memory per language
    for per-language constraints, or one memory over mixed languages (paper 003's "MLM (all)")."""

    def __init__(self, masked_lm: MaskedLanguageModel, batches: Sequence[dict], name: str = "mlm"):
        if not batches:
            raise ValueError(f"memory {name!r} has no batches")
        self.masked_lm, self.batches, self.name = masked_lm, list(batches), name

    @classmethod
    def from_sentences(cls, masked_lm: MaskedLanguageModel, tokenizer, sentences: Sequence[tuple[str, str]], *,
                       name: str = "mlm", seed: int = 0, batch_size: int = 16, max_length: int = 128,
                       masking: MaskingConfig | None = None) -> "MLMMemory":
        """``(sentence id, text)`` pairs, masked once, deterministically by ``(seed, id)``; batch size 16 is
        paper 003's (Appendix A)."""
        return cls(masked_lm, build_mlm_batches(tokenizer, sentences, seed=seed, batch_size=batch_size,
                                                max_length=max_length, masking=masking), name)

    def loss(self, model: nn.Module, step: int) -> torch.Tensor:
        if self.masked_lm.encoder is not unwrap(model).encoder:
            raise ValueError(f"memory {self.name!r}: its MLM head is bound to another encoder than the model's; "
                             "build it with MaskedLanguageModel.from_masked_lm(masked_lm, model.encoder)")
        batch = self.batches[step % len(self.batches)]
        device = self.masked_lm.encoder.device
        # The head is not part of the training module, so the loop's ``model.to(device)`` did not move it.
        self.masked_lm.head.to(device)
        return self.masked_lm(**model_inputs(batch, device))["loss"]


class XSRMemory:
    """An XSR memory: batches of parallel sentence pairs; loss = InfoNCE between the mean-pooled encoder states
    of each side (``trainer/objectives/xsr.py``)."""

    def __init__(self, batches: Sequence[tuple[dict, dict]], name: str = "xsr", temperature: float = 0.05,
                 layer: int | None = None):
        if not batches:
            raise ValueError(f"memory {name!r} has no batches")
        if any(source["input_ids"].shape[0] < 2 for source, _ in batches):
            raise ValueError(f"memory {name!r}: an XSR batch needs at least two pairs (in-batch negatives)")
        self.batches, self.name, self.temperature, self.layer = list(batches), name, temperature, layer

    @classmethod
    def from_pairs(cls, tokenizer, pairs: Sequence[tuple[str, str]], *, name: str = "xsr", batch_size: int = 16,
                   max_length: int = 128, temperature: float = 0.05, layer: int | None = None) -> "XSRMemory":
        """``(source, target)`` sentence pairs in order, ``batch_size`` pairs per batch; a last batch of one pair
        is dropped (it has no negative)."""
        batches = []
        for start in range(0, len(pairs), batch_size):
            chunk = pairs[start:start + batch_size]
            if len(chunk) < 2:
                continue
            batches.append((tokenize_batch(tokenizer, [s for s, _ in chunk], max_length),
                            tokenize_batch(tokenizer, [t for _, t in chunk], max_length)))
        return cls(batches, name, temperature, layer)

    def loss(self, model: nn.Module, step: int) -> torch.Tensor:
        encoder = unwrap(model).encoder
        source, target = self.batches[step % len(self.batches)]
        device = next(encoder.parameters()).device
        return xsr_contrastive_loss(sentence_embeddings(encoder, layer=self.layer, **model_inputs(source, device)),
                                    sentence_embeddings(encoder, layer=self.layer, **model_inputs(target, device)),
                                    self.temperature)


class CallableMemory:
    """Any loss as a memory: ``function(model, step) -> scalar``."""

    def __init__(self, name: str, function: Callable[[nn.Module, int], torch.Tensor]):
        self.name, self.function = name, function

    def loss(self, model: nn.Module, step: int) -> torch.Tensor:
        return self.function(model, step)


def build_memories(options: MemoryConfig, tokenizer, masked_lm, seed: int) -> list:
    """One MLM memory per language (scored by ``masked_lm``'s head), one XSR memory per parallel pair of files."""
    memories = []
    for lang, path in options.mlm.items():
        sentences = read_sentences_file(path, options.size)
        memories.append(MLMMemory.from_sentences(
            MaskedLanguageModel.from_masked_lm(masked_lm), tokenizer,
            [(f"{lang}-{n}", text) for n, text in enumerate(sentences)], name=f"mlm_{lang}",
            seed=seed, batch_size=options.batch_size, max_length=options.max_length))
    for name, (source_file, target_file) in options.xsr.items():
        pairs = read_parallel(source_file, target_file, limit=options.size)
        memories.append(XSRMemory.from_pairs(tokenizer, pairs, name=f"xsr_{name}", batch_size=options.batch_size,
                                             max_length=options.max_length, temperature=options.temperature))
    return memories
