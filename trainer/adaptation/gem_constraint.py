"""The ``gem`` constraint (paper 003 eq. 3): the task gradient projected (trainer/adaptation/gem.py) so that no
episodic memory's loss rises to first order. By default memories are evaluated in eval mode (no dropout): the
constraint is on the memory loss itself (eq. 1) rather than a noisy sample of it, every rank computes the same
memory gradient from the same memory batch, and no random numbers are drawn, so a step with no violated
constraint is exactly a plain step."""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable, ContextManager, Sequence

import torch
from torch import nn

from trainer.adaptation.gem import (GemProjection, assign_flat_gradient, flatten_gradients, gem_projection,
                                    trainable_parameters)
from trainer.adaptation.memory_gradients import MemoryGradients
from trainer.loop.train import StepRule

if TYPE_CHECKING:
    from trainer.adaptation.constraints import BuildContext
    from trainer.adaptation.memories import EpisodicMemory


class GemConstraint(MemoryGradients, StepRule):
    """GEM fine-tuning (paper 003 eq. 3): the task gradient in ``.grad`` is projected so that no memory's loss
    rises to first order. GEM w/ MLM, w/ XSR or w/ both is a matter of which memories are given.

    ``memory_training_mode``: False (default) evaluates memories without dropout; True with dropout; None in
    whatever mode the model is. ``autocast``: a context factory the memory forwards run under (e.g.
    ``lambda: trainer.loop.train.autocast_context(precision, device)``; the loop calls the hook outside autocast).
    ``margin``: GEM's memory strength (see the module docstring)."""

    def __init__(self, memories: Sequence[EpisodicMemory], margin: float = 0.0,
                 memory_training_mode: bool | None = False, autocast: Callable[[], ContextManager] | None = None):
        super().__init__(memories, memory_training_mode, autocast)
        if margin < 0:
            raise ValueError(f"margin must be >= 0, got {margin}")
        self.margin = margin
        self.last_projection: GemProjection | None = None

    def before_optimizer_step(self, module: nn.Module, optimizer: torch.optim.Optimizer | None = None,
                              step: int = 0) -> dict[str, float]:
        """Projects the accumulated task gradient in place. Returns (and keeps in ``last_stats``): each
        memory's loss ``memory_<name>``, ``gem_violated`` (constraints violated before projection),
        ``gem_projected`` (0/1) and ``gem_dot_<name>`` (<g̃, g_k>: >= 0 up to rounding)."""
        parameters = trainable_parameters(module)
        task_gradient = flatten_gradients(parameters)
        memory_flats, stats = self.memory_gradients(module, parameters, step)
        projection = gem_projection(task_gradient, memory_flats, self.margin)
        if projection.projected:
            assign_flat_gradient(parameters, projection.gradient)
        self.last_projection = projection
        stats["gem_violated"] = float(projection.violated)
        stats["gem_projected"] = float(projection.projected)
        for memory, dot in zip(self.memories, projection.dots_after):
            stats[f"gem_dot_{memory.name}"] = float(dot)
        self.last_stats = stats
        return stats


def build_gem(build: BuildContext) -> StepRule:
    return GemConstraint(build.memories, margin=build.options.gem_margin, autocast=build.autocast)
