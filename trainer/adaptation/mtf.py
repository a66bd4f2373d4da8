"""The ``mtf`` constraint, paper 003's multi-task baseline (§4.2): the memory losses added to the task loss."""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable, ContextManager, Sequence

import torch
from torch import nn

from trainer.adaptation.gem import assign_flat_gradient, flatten_gradients, trainable_parameters
from trainer.adaptation.memory_gradients import MemoryGradients
from trainer.loop.train import StepRule

if TYPE_CHECKING:
    from trainer.adaptation.constraints import BuildContext
    from trainer.adaptation.memories import EpisodicMemory


class MultiTaskFineTuning(MemoryGradients, StepRule):
    """MTF (paper 003 §4.2): task loss + Σ weight_k · memory loss_k. The memory gradients are added to the task
    gradient in ``.grad``, which is the gradient of the summed loss. Memories run in the model's own mode by
    default (they are trained, dropout included)."""

    def __init__(self, memories: Sequence[EpisodicMemory], weights: Sequence[float] | None = None,
                 memory_training_mode: bool | None = None, autocast: Callable[[], ContextManager] | None = None):
        super().__init__(memories, memory_training_mode, autocast)
        self.weights = [1.0] * len(self.memories) if weights is None else [float(w) for w in weights]
        if len(self.weights) != len(self.memories):
            raise ValueError(f"{len(self.weights)} weights for {len(self.memories)} memories")

    def before_optimizer_step(self, module: nn.Module, optimizer: torch.optim.Optimizer | None = None,
                              step: int = 0) -> dict[str, float]:
        parameters = trainable_parameters(module)
        total = flatten_gradients(parameters)
        memory_flats, stats = self.memory_gradients(module, parameters, step)
        for weight, flat in zip(self.weights, memory_flats):
            total = total + weight * flat
        assign_flat_gradient(parameters, total)
        self.last_stats = stats
        return stats


def build_mtf(build: BuildContext) -> StepRule:
    return MultiTaskFineTuning(build.memories, weights=build.options.mtf_weights, autocast=build.autocast)
