"""MTL-WS: multilingual warm-start of a model on translated data (paper 002 §5, eq. 7-9).

Warm-up iteration z (of Z), from parameters θ_{z-1}:

- for each target language ℓ: start from θ_{z-1} and take K gradient steps on ℓ's translated,
  pseudo-labelled data with step size β (eq. 8), giving θ_z^ℓ;
- θ_z = θ_{z-1} + γ/(|L|-1) Σ_ℓ (θ_z^ℓ - θ_{z-1}) (eq. 7; |L|-1 is the number of target languages, L also
  holding the source).

Then the warmed-up model θ_Z is adapted zero-shot on the source data (eq. 9): ordinary fine-tuning, which
the training loop runs after the warm-up. The inner steps use a fresh optimizer from ``optimizer_factory``
per language and iteration (plain SGD with lr β by default, eq. 8), so nothing carries over between the
language-specific copies. Only trainable parameters take part; buffers are left as the inner steps leave
them (transformers encoders have no running statistics).

This module has no loop of its own beyond the warm-up's inner steps: it takes batches from per-language
iterators (already collated, on the model's device or moved by ``move_batch``) and a model whose
``forward(**batch)`` returns ``{"loss": ...}``. A fine-tuning run makes the iterations steps of the one loop
(trainer/adaptation/warm_start.py), so they get DDP, autocast and exact resume.
"""
from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass, replace
from typing import Callable, ContextManager, Iterator, Mapping, Sequence

import torch
from torch import nn



@dataclass
class MTLWSConfig:
    # Paper 002 Table 6 (XLM-R, NER): Z = 50 warm-up iterations, K = 20 inner steps; γ = 5e-5 and
    # β = 1e-3 for every task and backbone (Appendix A.1).
    iterations: int = 50  # Z
    inner_steps: int = 20  # K
    step_size: float = 5e-5  # γ
    inner_lr: float = 1e-3  # β
    checkpoint_every: int = 10  # warm-up iterations between checkpoints of a fine-tuning run's warm start


# Paper 002 Table 6: Z and K per backbone and task; adaptation learning rate and batch size per backbone.
TABLE6 = {
    ("mbert", "ner"): MTLWSConfig(iterations=100, inner_steps=5),
    ("mbert", "srl"): MTLWSConfig(iterations=50, inner_steps=30),
    ("mbert", "absa"): MTLWSConfig(iterations=100, inner_steps=20),
    ("xlmr", "ner"): MTLWSConfig(iterations=50, inner_steps=20),
    ("xlmr", "srl"): MTLWSConfig(iterations=100, inner_steps=30),
    ("xlmr", "absa"): MTLWSConfig(iterations=100, inner_steps=20),
}
ADAPTATION = {"mbert": {"learning_rate": 5e-5, "batch_size": 8}, "xlmr": {"learning_rate": 1e-5, "batch_size": 4}}


def table6_config(backbone: str, task: str) -> MTLWSConfig:
    """The Table 6 setting of a backbone (mbert, xlmr) and task (ner, srl, absa)."""
    try:
        return replace(TABLE6[(backbone, task)])  # a copy: the table stays as the paper gives it
    except KeyError:
        known = ", ".join(f"{b}/{t}" for b, t in TABLE6)
        raise ValueError(f"no Table 6 setting for {backbone}/{task}; known: {known}") from None


OptimizerFactory = Callable[[list[nn.Parameter]], torch.optim.Optimizer]


def warm_up_iteration(model: nn.Module, module: nn.Module, batches: Mapping[str, Sequence[dict]],
                      config: MTLWSConfig, optimizer_factory: OptimizerFactory | None = None,
                      move_batch: Callable[[dict], dict] | None = None,
                      autocast: Callable[[], ContextManager] | None = None) -> tuple[dict[str, float], float]:
    """One warm-up iteration in place on ``module``'s trainable parameters: for each language, K inner steps
    from θ_{z-1} on its ``batches`` (eq. 8), then θ_z = θ_{z-1} + γ/(|L|-1) Σ_ℓ (θ_z^ℓ - θ_{z-1}) (eq. 7).
    Forwards run through ``model`` (``module`` itself, or its DDP wrapper: the inner gradients are then
    averaged over ranks). Returns the mean inner loss per language and the norm of the applied update."""
    if not batches:
        raise ValueError("MTL-WS needs at least one target language")
    optimizer_factory = optimizer_factory or (lambda params: torch.optim.SGD(params, lr=config.inner_lr))
    move_batch = move_batch or (lambda batch: batch)
    params = [p for p in module.parameters() if p.requires_grad]
    start = [p.detach().clone() for p in params]  # θ_{z-1}
    moved = [torch.zeros_like(p) for p in params]  # Σ_ℓ (θ_z^ℓ - θ_{z-1})
    was_training = module.training
    module.train()
    losses = {}
    for lang, lang_batches in batches.items():
        with torch.no_grad():
            for p, value in zip(params, start):
                p.copy_(value)  # θ_{z,0}^ℓ ← θ_{z-1}
        optimizer = optimizer_factory(params)
        total = 0.0
        for batch in lang_batches:
            optimizer.zero_grad(set_to_none=True)
            with autocast() if autocast is not None else contextlib.nullcontext():
                loss = model(**move_batch(batch))["loss"]
            loss.backward()
            optimizer.step()
            total += float(loss.detach())
        losses[lang] = total / max(len(lang_batches), 1)
        with torch.no_grad():
            for total_move, p, value in zip(moved, params, start):
                total_move.add_(p - value)
    scale = config.step_size / len(batches)  # γ / (|L| - 1)
    with torch.no_grad():
        norm = 0.0
        for p, value, total_move in zip(params, start, moved):
            p.copy_(value + scale * total_move)
            norm += float((scale * total_move).float().pow(2).sum())
        for p in params:
            p.grad = None  # leave no inner-step gradient for an optimizer
    module.train(was_training)
    return losses, norm ** 0.5


class MTLWarmStart:
    """The warm-up of MTL-WS, one iteration per ``iteration()`` call (so a loop can checkpoint between
    iterations; ``state_dict`` records how many are done).

    ``target_batches`` maps each target language to an iterator of batches; it must yield at least
    Z × K batches (wrap a DataLoader in ``itertools.cycle`` or use an endless ``MixedDataset``)."""

    def __init__(self, model: nn.Module, target_batches: Mapping[str, Iterator[dict]],
                 config: MTLWSConfig | None = None, optimizer_factory: OptimizerFactory | None = None,
                 move_batch: Callable[[dict], dict] | None = None):
        if not target_batches:
            raise ValueError("MTL-WS needs at least one target language")
        self.model = model
        self.target_batches = dict(target_batches)
        self.config = config or MTLWSConfig()
        self.optimizer_factory = optimizer_factory or (
            lambda params: torch.optim.SGD(params, lr=self.config.inner_lr))
        self.move_batch = move_batch or (lambda batch: batch)
        self.iterations_done = 0

    def _parameters(self) -> list[nn.Parameter]:
        return [p for p in self.model.parameters() if p.requires_grad]

    def iteration(self) -> dict:
        """One warm-up iteration (eq. 7-8); returns the mean inner loss per language and the norm of the
        applied update."""
        drawn = {}
        for lang, batches in self.target_batches.items():
            drawn[lang] = []
            for step in range(self.config.inner_steps):
                try:
                    drawn[lang].append(next(batches))
                except StopIteration:
                    raise RuntimeError(f"MTL-WS: the batches of {lang!r} ran out at iteration "
                                       f"{self.iterations_done + 1}, inner step {step + 1}; give an endless "
                                       "iterator (itertools.cycle)") from None
        losses, norm = warm_up_iteration(self.model, self.model, drawn, self.config, self.optimizer_factory,
                                         self.move_batch)
        self.iterations_done += 1
        return {"iteration": self.iterations_done, "inner_loss": losses, "update_norm": norm}

    def run(self, on_iteration: Callable[[dict], None] | None = None) -> list[dict]:
        """The remaining iterations up to Z; ``on_iteration`` sees each one's record (logging)."""
        records = []
        while self.iterations_done < self.config.iterations:
            record = self.iteration()
            records.append(record)
            if on_iteration is not None:
                on_iteration(record)
        return records

    def state_dict(self) -> dict:
        return {"iterations_done": self.iterations_done, "config": asdict(self.config)}

    def load_state_dict(self, state: dict) -> None:
        self.iterations_done = int(state["iterations_done"])


def mtl_ws_warmup(model: nn.Module, target_batches: Mapping[str, Iterator[dict]],
                  config: MTLWSConfig | None = None, optimizer_factory: OptimizerFactory | None = None,
                  move_batch: Callable[[dict], dict] | None = None) -> list[dict]:
    """Run the whole warm-up (Z iterations) in place on ``model``; then fine-tune on the source (eq. 9)."""
    return MTLWarmStart(model, target_batches, config, optimizer_factory, move_batch).run()
