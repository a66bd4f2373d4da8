"""CLISM [QUE] span pairs from parallel sentences (paper 000, §3.1): ``python -m pipelines.clism --help``.

Modules: ``parallel_input`` (corpora and their pairs), ``prepare`` (cleaning, words), ``spans`` (NER and
Appendix B's filters), ``rows`` (one row from a pair, its spans and links), ``pipeline`` (the Beam graph).
"""
from pipelines.clism.pipeline import ClismConfig, build_pipeline, clism_rows

__all__ = ["ClismConfig", "build_pipeline", "clism_rows"]
