"""Paper 003's optimisation constraints as loop step rules: what keeps fine-tuning from forgetting.

Paper 003 fine-tunes a multilingual encoder on a task while keeping the loss on episodic memories
(trainer/adaptation/memories.py) of what the pretrained model could do from rising (eq. 2-3). The constraints,
by the name ``constraint.name`` gives them, are registered in ``CONSTRAINTS`` below, each built by
``build_constraint`` as a ``StepRule`` of the loop (trainer/loop/train.py): the loop calls
``before_optimizer_step(module, optimizer, step)`` once per optimisation step, after gradient accumulation and
the DDP all-reduce and before clipping, with the task gradients in ``.grad``; the rule rewrites them in place. The
previous step's memory losses and projection figures come back through ``loss`` as ``loss_*`` terms, so the
loop's metrics log shows them (trainer/adaptation/memory_gradients.py).

- ``none``: plain fine-tuning, the loop's own ``StepRule``.
- ``frozen`` (trainer/adaptation/frozen.py): the partially frozen baseline (embeddings and the lowest n layers).
- ``mtf`` (trainer/adaptation/mtf.py): MTF - the memory losses added to the task loss (their gradients added to
  ``.grad``), the paper's multi-task baseline.
- ``gem`` (trainer/adaptation/gem_constraint.py): GEM w/ MLM, w/ XSR, or w/ both, depending on the memories
  given; the projection itself is trainer/adaptation/gem.py.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, ContextManager

from torch import nn

from schemas.registry import Registry
from trainer.adaptation.frozen import build_frozen
from trainer.adaptation.gem_constraint import build_gem
from trainer.adaptation.memories import MemoryConfig, build_memories
from trainer.adaptation.mtf import build_mtf
from trainer.loop.train import StepRule


@dataclass
class ConstraintConfig:
    """The ``constraint`` section of a fine-tuning config (paper 003): which constraint, and its memories."""

    name: str = "none"  # none | frozen | mtf | gem (CONSTRAINTS below)
    frozen_layers: int = 3  # frozen: embeddings and this many lowest layers
    mtf_weights: list[float] | None = None  # mtf: one weight per memory; None: 1 each
    gem_margin: float = 0.0  # gem: memory strength; 0 is the exact minimal change
    memories: MemoryConfig = field(default_factory=MemoryConfig)

    @property
    def needs_memories(self) -> bool:
        return self.name in MEMORY_CONSTRAINTS


@dataclass
class BuildContext:
    """What a constraint may need to build itself: the model (before its optimizer exists), the memories, the
    run's autocast for the memory forwards."""

    options: ConstraintConfig
    model: nn.Module
    memories: list = field(default_factory=list)
    autocast: Callable[[], ContextManager] | None = None


@dataclass(frozen=True)
class RegisteredConstraint:
    build: Callable[[BuildContext], StepRule]
    reads_memories: bool = False  # its step rule reads episodic memories (constraint.memories must name some)


def _plain_step(build: BuildContext) -> StepRule:
    return StepRule()


# The constraints by name: a new one is a module with its builder (and a StepRule subclass when it changes the
# step), and a line here.
CONSTRAINTS: Registry[RegisteredConstraint] = Registry("constraint")
CONSTRAINTS.register("none", RegisteredConstraint(_plain_step), "plain fine-tuning", default=True)
CONSTRAINTS.register("frozen", RegisteredConstraint(build_frozen),
                     "the embeddings and the lowest constraint.frozen_layers layers frozen")
CONSTRAINTS.register("mtf", RegisteredConstraint(build_mtf, reads_memories=True),
                     "multi-task fine-tuning: the memories' losses added to the task loss")
CONSTRAINTS.register("gem", RegisteredConstraint(build_gem, reads_memories=True),
                     "GEM: the task gradient projected so that no memory's loss rises")
MEMORY_CONSTRAINTS = tuple(name for name, constraint in CONSTRAINTS.items() if constraint.reads_memories)


def build_constraint(options: ConstraintConfig, model: nn.Module, tokenizer=None, masked_lm=None, seed: int = 0,
                     autocast: Callable[[], ContextManager] | None = None) -> StepRule:
    """The step rule of ``options.name`` (``UnknownNameError`` listing the constraints if there is none);
    ``frozen`` freezes the layers of ``model`` here (before the optimizer exists), ``mtf``/``gem`` get the
    memories (MLM memories scored by ``masked_lm``'s head)."""
    constraint = CONSTRAINTS[options.name]
    memories = build_memories(options.memories, tokenizer, masked_lm, seed) if constraint.reads_memories else []
    return constraint.build(BuildContext(options, model, memories, autocast))
