"""Paper 003's optimisation constraints as loop step rules: what keeps fine-tuning from forgetting.

Paper 003 fine-tunes a multilingual encoder on a task while keeping the loss on episodic memories
(trainer/adaptation/memories.py) of what the pretrained model could do from rising (eq. 2-3). The constraints,
by the name ``constraint.name`` gives them (``CONSTRAINTS``, ``build_constraint``), are ``StepRule``s of the
loop (trainer/loop/train.py): the loop calls ``before_optimizer_step(module, optimizer, step)`` once per
optimisation step, after gradient accumulation and the DDP all-reduce and before clipping, with
the task gradients in ``.grad``; the hook rewrites them in place. The previous step's memory losses and
projection figures come back through ``loss`` as ``loss_*`` terms, so the loop's metrics log shows them.

- ``GemConstraint(memories)``: GEM w/ MLM, w/ XSR, or w/ both, depending on the memories given.
- ``MultiTaskFineTuning(memories, weights)``: MTF - the memory losses added to the task loss (their gradients
  added to ``.grad``), the paper's multi-task baseline.
- ``freeze_lower_layers(model, n)``: the partially frozen baseline (embeddings and the lowest n layers).
- ``none``: plain fine-tuning, the loop's own ``StepRule``.

Memory gradients are taken with ``torch.autograd.grad`` (never ``backward``), so ``.grad`` is untouched until the
projection is written back and DDP's gradient hooks do not fire. By default GEM evaluates memories in eval mode
(no dropout): the constraint is on the memory loss itself (eq. 1) rather than a noisy sample of it, every rank
computes the same memory gradient from the same memory batch, and no random numbers are drawn, so a step with no
violated constraint is exactly a plain step. A memory serves batch ``step % len(batches)`` at each step, so a
resumed run sees the same memory batches.
"""
from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from typing import Callable, ContextManager, Mapping, Sequence

import torch
from torch import nn

from trainer.adaptation.gem import (GemProjection, assign_flat_gradient, flatten_gradients, gem_projection,
                                    trainable_parameters)
from trainer.adaptation.memories import EpisodicMemory, MemoryConfig, build_memories
from trainer.loop.checkpoint import unwrap
from trainer.loop.train import StepRule


@contextlib.contextmanager
def _mode(model: nn.Module, training: bool | None):
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


class _MemoryGradients(StepRule):
    """What GEM and MTF share: evaluating memories and their gradients over the trainable parameters, and
    reporting the last step's figures to the loop's log."""

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
        with _mode(model, self.memory_training_mode):
            for memory in self.memories:
                with self.autocast() if self.autocast else contextlib.nullcontext():
                    loss = memory.loss(model, step)
                grads = torch.autograd.grad(loss, parameters, allow_unused=True)
                flats.append(flatten_gradients(parameters, grads))
                losses[f"memory_{memory.name}"] = loss.item()
        return flats, losses


class GemConstraint(_MemoryGradients):
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


class MultiTaskFineTuning(_MemoryGradients):
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


def freeze_lower_layers(model: nn.Module, num_layers: int, freeze_embeddings: bool = True) -> list[str]:
    """The "partially frozen" baseline (Wu & Dredze 2019, paper 003 §4.2): no gradient for the embeddings and
    the lowest ``num_layers`` transformer layers of ``model.encoder`` (or of ``model`` itself when it is the
    encoder). Call before building the optimizer. Returns the frozen parameter names."""
    encoder = getattr(unwrap(model), "encoder", None)
    encoder = encoder if isinstance(encoder, nn.Module) and hasattr(encoder, "embeddings") else unwrap(model)
    layers = getattr(getattr(encoder, "encoder", None), "layer", None)
    if not hasattr(encoder, "embeddings") or layers is None:
        raise ValueError(f"{type(encoder).__name__}: freezing layers needs a BERT-family encoder "
                         "(embeddings + encoder.layer)")
    if not 0 <= num_layers <= len(layers):
        raise ValueError(f"cannot freeze {num_layers} layers of a {len(layers)}-layer encoder")
    modules: list[tuple[str, nn.Module]] = [(f"encoder.layer.{i}", layers[i]) for i in range(num_layers)]
    if freeze_embeddings:
        modules.insert(0, ("embeddings", encoder.embeddings))
    frozen = []
    for prefix, module in modules:
        for name, parameter in module.named_parameters():
            parameter.requires_grad_(False)
            frozen.append(f"{prefix}.{name}")
    return frozen


logger = logging.getLogger(__name__)


@dataclass
class ConstraintConfig:
    """The ``constraint`` section of a fine-tuning config (paper 003): which constraint, and its memories."""

    name: str = "none"  # none | frozen | mtf | gem
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


def _none(build: BuildContext) -> StepRule:
    return StepRule()


def _frozen(build: BuildContext) -> StepRule:
    frozen = freeze_lower_layers(build.model, build.options.frozen_layers)
    logger.info("frozen: embeddings and %d layers (%d tensors)", build.options.frozen_layers, len(frozen))
    return StepRule()


def _mtf(build: BuildContext) -> StepRule:
    return MultiTaskFineTuning(build.memories, weights=build.options.mtf_weights, autocast=build.autocast)


def _gem(build: BuildContext) -> StepRule:
    return GemConstraint(build.memories, margin=build.options.gem_margin, autocast=build.autocast)


# The constraints by name: a new one is a builder here (and a StepRule subclass when it needs one).
CONSTRUCTORS: dict[str, Callable[[BuildContext], StepRule]] = {"none": _none, "frozen": _frozen, "mtf": _mtf,
                                                              "gem": _gem}
CONSTRAINTS = tuple(CONSTRUCTORS)
MEMORY_CONSTRAINTS = ("mtf", "gem")  # the ones whose step rule reads episodic memories


def build_constraint(options: ConstraintConfig, model: nn.Module, tokenizer=None, masked_lm=None, seed: int = 0,
                     autocast: Callable[[], ContextManager] | None = None) -> StepRule:
    """The step rule of ``options.name``; ``frozen`` freezes the layers of ``model`` here (before the optimizer
    exists), ``mtf``/``gem`` get the memories (MLM memories scored by ``masked_lm``'s head)."""
    if options.name not in CONSTRUCTORS:
        raise ValueError(f"unknown constraint {options.name!r}; known: {', '.join(CONSTRAINTS)}")
    memories = build_memories(options.memories, tokenizer, masked_lm, seed) if options.needs_memories else []
    return CONSTRUCTORS[options.name](BuildContext(options, model, memories, autocast))
