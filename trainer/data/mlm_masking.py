"""Masked-language-model corruption (BERT's recipe) drawn deterministically per row.

Devlin et al. 2019, which paper 000 §4.2 follows: select 15% of the tokens; replace 80% of the selected with
the mask token, 10% with a random token and keep 10% unchanged; predict the original token at every selected
position (labels are -100 elsewhere, PyTorch's ``ignore_index``). Which positions may be selected is the
caller's business: the CLISM collator excludes special tokens, ``[QUE]``, answer tokens (paper 000,
footnote 4: "the pre-defined answers in CLISM will not be masked to avoid missing labels") and padding.

Every draw comes from a generator seeded by ``(global seed, row id)`` (DESIGN.md, deterministic randomness),
so a row is corrupted the same way whatever batch, rank, worker or resumed run it lands in. Callers that read
a row in several epochs add the epoch to the key (the CLISM collator does), so each epoch masks it anew, as
RoBERTa's dynamic masking does, and still reproducibly.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import torch

IGNORE_INDEX = -100  # label of the positions the MLM loss skips


@dataclass
class MaskingConfig:
    probability: float = 0.15  # share of the maskable tokens selected for prediction
    mask_fraction: float = 0.8  # of the selected: replaced by the mask token
    random_fraction: float = 0.1  # of the selected: replaced by a random token (the rest stays unchanged)

    def __post_init__(self):
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError(f"masking probability {self.probability} is not in [0, 1]")
        if self.mask_fraction < 0 or self.random_fraction < 0 or self.mask_fraction + self.random_fraction > 1:
            raise ValueError(f"mask_fraction {self.mask_fraction} and random_fraction {self.random_fraction} "
                             "must be >= 0 and sum to at most 1")


def row_generator(seed: int, key: str) -> torch.Generator:
    """A CPU generator seeded by ``(seed, key)``, the same in every process (``hash()`` is salted per process;
    blake2b is not)."""
    digest = hashlib.blake2b(f"{seed}\x1f{key}".encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest, "big") & (2 ** 63 - 1))


def mask_tokens(input_ids: torch.Tensor, maskable: torch.Tensor, mask_token_id: int,
                replacement_ids: torch.Tensor, config: MaskingConfig,
                generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Corrupt one sequence: returns ``(corrupted input_ids, labels)``, both 1-D like ``input_ids``.

    ``maskable`` (bool, same shape) says which positions may be selected; ``replacement_ids`` are the ids a
    random replacement draws from (the vocabulary without special tokens, so no fake ``[QUE]`` appears). The
    same number of values is drawn whatever ``maskable`` holds, so a row's draws depend on its length only."""
    if input_ids.dim() != 1 or input_ids.shape != maskable.shape:
        raise ValueError(f"mask_tokens takes one sequence: input_ids {tuple(input_ids.shape)}, "
                         f"maskable {tuple(maskable.shape)}")
    length = input_ids.shape[0]
    selected = maskable & (torch.rand(length, generator=generator) < config.probability)
    action = torch.rand(length, generator=generator)
    random_tokens = replacement_ids[torch.randint(len(replacement_ids), (length,), generator=generator)]
    to_mask = selected & (action < config.mask_fraction)
    to_random = selected & (action >= config.mask_fraction) & (action < config.mask_fraction + config.random_fraction)

    corrupted = input_ids.clone()
    corrupted[to_mask] = mask_token_id
    corrupted[to_random] = random_tokens[to_random].to(corrupted.dtype)
    labels = torch.full_like(input_ids, IGNORE_INDEX)
    labels[selected] = input_ids[selected]
    return corrupted, labels
