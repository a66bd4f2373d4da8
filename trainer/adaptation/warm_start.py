"""MTL-WS's warm start (paper 002 eq. 7-8) as steps of the one loop: each warm-up iteration is one loop step
made by ``WarmStartRule`` (a whole-step rule: trainer/loop/train.py), so it runs under DDP (the inner
gradients averaged over ranks, each rank drawing its own share of every language's batches), under the run's
autocast, with its losses in a metrics log and with checkpoints the loop resumes exactly.

``warm_start`` is what a fine-tuning run calls before its zero-shot adaptation on the source (eq. 9): a loop
run of Z steps in ``<output_dir>/warm-start`` (its own ``metrics.jsonl``, one record per iteration, and
``checkpoints/``, every ``mtl_ws.checkpoint_every`` iterations and at the last). A run killed during the warm
start continues it from its last checkpoint; a run killed later resumes from the main checkpoints, which hold
the warmed-up model.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Iterator, Mapping

import torch
from torch import nn

from trainer.adaptation.mtl_ws import MTLWSConfig, warm_up_iteration
from trainer.config import TrainConfig
from trainer.data.batches import ExampleBatches, endless
from trainer.loop.distributed import DistributedContext
from trainer.loop.train import StepRule, TrainResult, batch_tokens, to_device, train

WARM_START_DIR = "warm-start"


class WarmStartBatches:
    """The warm start's batch stream: one item per iteration, ``{"inner_batches": {lang: [K batches]}}``, each
    language's batches drawn from its own endless, resumable ``ExampleBatches``."""

    def __init__(self, streams: Mapping[str, ExampleBatches], inner_steps: int):
        self.streams, self.inner_steps = dict(sorted(streams.items())), inner_steps

    def __iter__(self) -> Iterator[dict]:
        draws = {lang: endless(batches) for lang, batches in self.streams.items()}
        while True:
            yield {"inner_batches": {lang: [next(draw) for _ in range(self.inner_steps)]
                                     for lang, draw in draws.items()}}

    def state_dict(self) -> dict:
        return {lang: batches.state_dict() for lang, batches in self.streams.items()}

    def load_state_dict(self, state: dict) -> None:
        for lang, batches in self.streams.items():
            batches.load_state_dict(state[lang])


class WarmStartRule(StepRule):
    """One MTL-WS iteration per loop step; logs ``loss`` (the mean inner loss), ``loss_<lang>`` and
    ``update_norm``."""

    whole_step = True

    def __init__(self, config: MTLWSConfig):
        self.config = config

    def step(self, model, module, batch, step, autocast):
        tokens = sum(batch_tokens(b) for batches in batch["inner_batches"].values() for b in batches)
        device = next(module.parameters()).device
        losses, norm = warm_up_iteration(model, module, batch["inner_batches"], self.config,
                                         move_batch=lambda b: to_device(b, device), autocast=autocast)
        terms = {f"loss_{lang}": torch.tensor(value, device=device) for lang, value in losses.items()}
        terms["loss"] = torch.tensor(sum(losses.values()) / len(losses), device=device)
        terms["update_norm"] = torch.tensor(norm, device=device)
        terms["tokens"] = tokens
        return terms


def warm_start(task, model: nn.Module, tokenizer, examples: Mapping[str, list], config: MTLWSConfig,
               train_config: TrainConfig, output_dir: str | Path, *, batch_size: int, ctx: DistributedContext,
               run_info: dict | None = None) -> TrainResult:
    """The Z warm-up iterations on each target language's translated ``examples``, in place, as a loop run
    under ``<output_dir>/warm-start`` (see the module docstring)."""
    streams = {}
    for n, (lang, rows) in enumerate(sorted(examples.items())):
        items, collate = task.training_items(tokenizer, rows)
        streams[lang] = ExampleBatches(items, batch_size, collate, seed=train_config.seed + 1000 * (n + 1),
                                       rank=ctx.rank, world_size=ctx.world_size)
    steps = dataclasses.replace(train_config, total_steps=config.iterations, warmup_steps=0, grad_accum=1,
                                global_batch_size=None, log_every=1, eval_every=0, keep_last=1,
                                checkpoint_every=config.checkpoint_every)
    return train(model, WarmStartBatches(streams, config.inner_steps), steps, Path(output_dir) / WARM_START_DIR,
                 ctx=ctx, tokenizer=tokenizer, rule=WarmStartRule(config), grad_accum=1, run_info=run_info)
