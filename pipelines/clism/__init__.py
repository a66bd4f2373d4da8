"""CLISM [QUE] span pairs from parallel sentences (paper 000, §3.1): ``python -m pipelines.clism --help``.

Modules: ``parallel_input`` (corpora and their pairs), ``prepare`` (cleaning, words), ``spans`` (NER and
Appendix B's filters), ``rows`` (one row from a pair, its spans and links), ``pipeline`` (the Beam graph).
"""
from __future__ import annotations

from typing import Any

__all__ = ["ClismConfig", "build_pipeline", "clism_rows"]


def __getattr__(name: str) -> Any:
    """The package's names, imported on first use: ``python -m pipelines.clism`` imports this package before its
    command line, and the graph's module imports Beam and spaCy, which ``--help`` has no use for."""
    if name in __all__:
        from pipelines.clism import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
