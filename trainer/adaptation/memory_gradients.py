"""What paper 003's memory constraints (GEM, MTF) share: each episodic memory's loss and its gradient over the
trainable parameters, taken with ``torch.autograd.grad`` (never ``backward``) so ``.grad`` holds the task gradient
untouched and DDP's gradient hooks do not fire; and the previous step's memory figures reported to the loop's log
as ``loss_*`` terms. A memory serves batch ``step % len(batches)`` at each step, so a resumed run sees the same
memory batches."""
from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Callable, ContextManager, Mapping, Sequence

import torch
from torch import nn

from trainer.adaptation.gem import flatten_gradients

if TYPE_CHECKING:
    from trainer.adaptation.memories import EpisodicMemory


@contextlib.contextmanager
def training_mode(model: nn.Module, training: bool | None):
    """Temporarily puts ``model`` in train/eval mode (None: leave it)."""
    if training is None or model.training == training:
        yield
        return
    was = model.training
    model.train(training)
    try:
        yield
    finally:
        model.train(was)


class MemoryGradients:
    """What GEM and MTF add to a ``StepRule`` (they derive from both, this class first, so its ``loss`` is the
    rule's): evaluating memories and their gradients over the trainable parameters, and reporting the last
    step's figures to the loop's log. It does not derive from ``StepRule`` itself so that the constraint
    registry -> constraint -> loop chain of imports stays one module shorter."""

    def __init__(self, memories: Sequence[EpisodicMemory], memory_training_mode: bool | None,
                 autocast: Callable[[], ContextManager] | None):
        if not memories:
            raise ValueError("a memory constraint needs at least one memory")
        names = [m.name for m in memories]
        if len(set(names)) != len(names):
            raise ValueError(f"memory names must be distinct, got {names}")
        self.memories = list(memories)
        self.memory_training_mode = memory_training_mode
        self.autocast = autocast
        self.last_stats: dict[str, float] = {}

    def loss(self, model: nn.Module, batch: dict) -> Mapping[str, torch.Tensor]:
        """The model's forward, plus the previous step's memory figures as ``loss_*`` terms while training
        (the loop logs every ``loss_*`` term and back-propagates only ``loss``; these are plain numbers)."""
        output = model(**batch)
        if not model.training or not self.last_stats:
            return output
        terms = dict(output.items()) if isinstance(output, Mapping) else dict(vars(output))
        loss = terms["loss"]
        for key, value in self.last_stats.items():
            terms[f"loss_{key}"] = torch.tensor(value, device=loss.device)
        return terms

    def memory_gradients(self, model: nn.Module, parameters: Sequence[nn.Parameter], step: int
                         ) -> tuple[list[torch.Tensor], dict[str, float]]:
        """One flat gradient per memory, and each memory's loss (``memory_<name>``)."""
        flats, losses = [], {}
        with training_mode(model, self.memory_training_mode):
            for memory in self.memories:
                with self.autocast() if self.autocast else contextlib.nullcontext():
                    loss = memory.loss(model, step)
                grads = torch.autograd.grad(loss, parameters, allow_unused=True)
                flats.append(flatten_gradients(parameters, grads))
                losses[f"memory_{memory.name}"] = loss.item()
        return flats, losses
