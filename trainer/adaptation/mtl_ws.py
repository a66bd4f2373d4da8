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
``forward(**batch)`` returns ``{"loss": ...}``. ``warm_start`` is what a fine-tuning run calls before the loop:
the streams of each target's translated examples, the iterations, and a ``warmup`` record per iteration for
the run's metrics log.
"""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, replace
from typing import Callable, Iterator, Mapping

import torch
from torch import nn

from trainer.data.batches import ExampleBatches, endless

logger = logging.getLogger(__name__)


@dataclass
class MTLWSConfig:
    # Paper 002 Table 6 (XLM-R, NER): Z = 50 warm-up iterations, K = 20 inner steps; γ = 5e-5 and
    # β = 1e-3 for every task and backbone (Appendix A.1).
    iterations: int = 50  # Z
    inner_steps: int = 20  # K
    step_size: float = 5e-5  # γ
    inner_lr: float = 1e-3  # β


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
        params = self._parameters()
        start = [p.detach().clone() for p in params]  # θ_{z-1}
        moved = [torch.zeros_like(p) for p in params]  # Σ_ℓ (θ_z^ℓ - θ_{z-1})
        was_training = self.model.training
        self.model.train()
        losses = {}
        for lang, batches in self.target_batches.items():
            with torch.no_grad():
                for p, value in zip(params, start):
                    p.copy_(value)  # θ_{z,0}^ℓ ← θ_{z-1}
            optimizer = self.optimizer_factory(params)
            total = 0.0
            for step in range(self.config.inner_steps):
                try:
                    batch = next(batches)
                except StopIteration:
                    raise RuntimeError(f"MTL-WS: the batches of {lang!r} ran out at iteration "
                                       f"{self.iterations_done + 1}, inner step {step + 1}; give an endless "
                                       "iterator (itertools.cycle)") from None
                optimizer.zero_grad(set_to_none=True)
                loss = self.model(**self.move_batch(batch))["loss"]
                loss.backward()
                optimizer.step()
                total += float(loss.detach())
            losses[lang] = total / max(self.config.inner_steps, 1)
            with torch.no_grad():
                for total_move, p, value in zip(moved, params, start):
                    total_move.add_(p - value)
        scale = self.config.step_size / len(self.target_batches)  # γ / (|L| - 1)
        with torch.no_grad():
            norm = 0.0
            for p, value, total_move in zip(params, start, moved):
                p.copy_(value + scale * total_move)
                norm += float((scale * total_move).float().pow(2).sum())
            for p in params:
                p.grad = None  # leave no inner-step gradient for the loop's optimizer
        self.model.train(was_training)
        self.iterations_done += 1
        return {"iteration": self.iterations_done, "inner_loss": losses, "update_norm": norm ** 0.5}

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


def warm_start(task, model: nn.Module, tokenizer, examples: Mapping[str, list], config: MTLWSConfig, *,
               batch_size: int, seed: int, device, log: Callable[[dict], None] | None = None) -> list[dict]:
    """MTL-WS's Z warm-up iterations on each target language's translated ``examples``, in place, before the
    loop adapts the model zero-shot on the source data (eq. 9). Every rank runs the same warm-up (the same
    batches, seeded by (seed, language)); DDP then starts from rank 0's parameters. ``log`` (the main rank's
    metrics log) gets a ``warmup`` record per iteration."""
    streams = {}
    for n, (lang, rows) in enumerate(sorted(examples.items())):
        items, collate = task.training_items(tokenizer, rows)
        streams[lang] = endless(ExampleBatches(items, batch_size, collate, seed=seed + 1000 * (n + 1)))
    model.to(device)

    def move(batch: dict) -> dict:
        return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}

    def record(entry: dict) -> None:
        flat = {"split": "warmup", "step": 0, "iteration": entry["iteration"], "update_norm": entry["update_norm"],
                **{f"loss_{lang}": value for lang, value in entry["inner_loss"].items()}}
        if log is not None:
            log(flat)
            logger.info("MTL-WS warm-up iteration %d/%d: %s", entry["iteration"], config.iterations,
                        ", ".join(f"{k} {v:.4g}" for k, v in flat.items() if k.startswith("loss_")))

    return MTLWarmStart(model, streams, config, move_batch=move).run(on_iteration=record)
