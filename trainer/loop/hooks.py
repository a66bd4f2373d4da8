"""Loop hooks: what a run adds around the one loop's steps without wrapping its step rule.

A ``LoopHook`` may take entries out of each batch before the forward (``batch_keys``: the model never sees
them) and add loss terms from them (``adjust_loss``), and after every optimizer step it may return records to
log, keyed by their split (``after_step``). The loop calls every hook in order; ``forward_with_hooks`` is the
forward the loop (training and evaluation alike) runs.

Hooks here are the generic ones: ``PeriodicEvaluation`` scores the task on dev data every N steps, and, when
asked to select, keeps the weights of the best step by one metric (the papers select by dev scores). The
self-teaching KL hook lives with self-teaching (trainer/adaptation/self_teaching.py).
"""
from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Callable, Mapping

import torch
from torch import nn

logger = logging.getLogger(__name__)

BEST_DIR = "best"  # under output_dir: the selected model (weights, tokenizer, trainer_state.json)
SELECTION_FILE = "selection.json"


class LoopHook:
    """Does nothing; subclass what you need."""

    batch_keys: tuple[str, ...] = ()

    def adjust_loss(self, terms: dict, taken: dict) -> dict:
        """The forward's terms (a dict with ``loss``), given the batch entries of ``batch_keys`` it took out."""
        return terms

    def after_step(self, module: nn.Module, step: int, total_steps: int) -> Mapping[str, dict] | None:
        """Called after every optimizer step with the bare module; returns ``{split: record values}`` to log."""
        return None

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


def forward_with_hooks(rule, hooks, model: nn.Module, batch: dict) -> Mapping[str, torch.Tensor]:
    """``rule.loss(model, batch)`` without the entries hooks claim, then each hook's ``adjust_loss``."""
    if not any(hook.batch_keys for hook in hooks):
        return rule.loss(model, batch)
    batch = dict(batch)
    taken = [{key: batch.pop(key) for key in hook.batch_keys if key in batch} for hook in hooks]
    output = rule.loss(model, batch)
    terms = dict(output.items()) if isinstance(output, Mapping) else dict(vars(output))
    for hook, entries in zip(hooks, taken):
        if entries:
            terms = hook.adjust_loss(terms, entries)
    return terms


class PeriodicEvaluation(LoopHook):
    """Every ``every`` steps, ``evaluate(module) -> {metric: value}`` on the dev data, logged as a
    ``task_eval`` record. The last step is left to the run's final evaluation unless selecting.

    Model selection (``select`` = a key of the evaluation's figures, e.g. ``avg_f1``): the weights of the best
    step so far (highest value; the first step wins ties) are saved by ``save(module, directory)`` into
    ``<output_dir>/best`` and ``selection.json`` records the winning step and its figures. Only the main rank
    evaluates (``enabled``); the state (best value and step) is kept in checkpoints, so a resumed run keeps
    comparing against the same best."""

    def __init__(self, every: int, evaluate: Callable[[nn.Module], dict], *, enabled: bool = True,
                 select: str | None = None, output_dir: str | Path | None = None,
                 save: Callable[[nn.Module, Path, int], None] | None = None):
        if select is not None and (output_dir is None or save is None):
            raise ValueError("model selection needs an output directory and a save function")
        self.every, self.evaluate, self.enabled = every, evaluate, enabled
        self.select, self.save = select, save
        self.output_dir = Path(output_dir) if output_dir is not None else None
        self.best_value: float | None = None
        self.best_step: int | None = None

    def after_step(self, module, step, total_steps):
        due = step % self.every == 0 and (step < total_steps or self.select is not None)
        if self.select is not None and step == total_steps:
            due = True  # the last step is a candidate as well
        if not (self.enabled and due):
            return None
        figures = self.evaluate(module)
        if self.select is None:
            return {"task_eval": figures}
        if self.select not in figures:
            raise ValueError(f"model selection by {self.select!r}, but the evaluation gives "
                             f"{', '.join(sorted(figures))}")
        value = float(figures[self.select])
        if self.best_value is None or value > self.best_value:
            self.best_value, self.best_step = value, step
            self._keep(module, step, figures)
            logger.info("step %d is the best so far: %s %.4g", step, self.select, value)
        return {"task_eval": {**figures, "best_step": self.best_step, f"best_{self.select}": self.best_value}}

    def _keep(self, module: nn.Module, step: int, figures: dict) -> None:
        # Written beside, then swapped in: a run killed while saving never leaves a half-written best model.
        final, temp = self.output_dir / BEST_DIR, self.output_dir / f".tmp-{BEST_DIR}"
        shutil.rmtree(temp, ignore_errors=True)
        self.save(module, temp, step)
        (temp / SELECTION_FILE).write_text(json.dumps(
            {"step": step, "metric": self.select, "value": float(figures[self.select]), "figures": figures},
            indent=1) + "\n", encoding="utf-8")
        shutil.rmtree(final, ignore_errors=True)
        temp.rename(final)

    def state_dict(self) -> dict:
        if self.best_step is None:
            return {}
        return {"best_value": self.best_value, "best_step": self.best_step}

    def load_state_dict(self, state: dict) -> None:
        self.best_value, self.best_step = state.get("best_value"), state.get("best_step")
