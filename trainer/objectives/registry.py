"""Pretraining objectives by name: ``trainer.pretrain`` looks the configured ``objective.name`` up here. Each
objective is an ``Objective`` (trainer/objectives/base.py) in a module of its own; this registry only lists
them. An objective turns ``objective.options`` (plus the data section's lengths and the run's seed) into its own
options object, rejecting unknown keys by name.
"""
from __future__ import annotations

from schemas.registry import Registry
from trainer.objectives.base import Objective
from trainer.objectives.clism_cacr import ClismObjective
from trainer.objectives.wae import WaeObjective

OBJECTIVES: Registry[Objective] = Registry("objective")
OBJECTIVES.register(WaeObjective.name, WaeObjective(),
                    "mPMR's Wiki Anchor Extraction: the span extractor on mrc shards (paper 001)")
OBJECTIVES.register(ClismObjective.name, ClismObjective(), "CLISM + CACR + MLM on clism shards (paper 000 eq. 9)")


def get_objective(name: str) -> Objective:
    """The objective registered as ``name``; ``UnknownNameError`` listing the known ones."""
    return OBJECTIVES[name]
