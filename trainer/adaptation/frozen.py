"""The ``frozen`` constraint, paper 003's partially frozen baseline: the embeddings and the lowest layers get no
gradient, and the step itself is the loop's plain one."""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from torch import nn

from trainer.config import ConfigError
from trainer.loop.checkpoint import unwrap
from trainer.loop.train import StepRule

if TYPE_CHECKING:
    from trainer.adaptation.constraints import BuildContext

logger = logging.getLogger(__name__)


def freeze_lower_layers(model: nn.Module, num_layers: int, freeze_embeddings: bool = True) -> list[str]:
    """The "partially frozen" baseline (Wu & Dredze 2019, paper 003 §4.2): no gradient for the embeddings and
    the lowest ``num_layers`` transformer layers of ``model.encoder`` (or of ``model`` itself when it is the
    encoder). Call before building the optimizer. Returns the frozen parameter names."""
    encoder = getattr(unwrap(model), "encoder", None)
    encoder = encoder if isinstance(encoder, nn.Module) and hasattr(encoder, "embeddings") else unwrap(model)
    layers = getattr(getattr(encoder, "encoder", None), "layer", None)
    if not hasattr(encoder, "embeddings") or layers is None:
        raise ConfigError(f"constraint frozen: freezing layers needs a BERT-family encoder (embeddings + "
                          f"encoder.layer), not {type(encoder).__name__}")
    if not 0 <= num_layers <= len(layers):
        raise ConfigError(f"constraint.frozen_layers: cannot freeze {num_layers} layers of a {len(layers)}-layer "
                          "encoder")
    modules: list[tuple[str, nn.Module]] = [(f"encoder.layer.{i}", layers[i]) for i in range(num_layers)]
    if freeze_embeddings:
        modules.insert(0, ("embeddings", encoder.embeddings))
    frozen = []
    for prefix, module in modules:
        for name, parameter in module.named_parameters():
            parameter.requires_grad_(False)
            frozen.append(f"{prefix}.{name}")
    return frozen


def build_frozen(build: BuildContext) -> StepRule:
    """Freezes the layers of ``build.model`` now, before its optimizer exists."""
    frozen = freeze_lower_layers(build.model, build.options.frozen_layers)
    logger.info("frozen: embeddings and %d layers (%d tensors)", build.options.frozen_layers, len(frozen))
    return StepRule()
