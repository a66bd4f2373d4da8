"""Encoders and heads: the backbone of a run, the span extractor, the QA, tagging and pair heads, FILTER, and
the self-teaching KL term its forward adds. May import: ``trainer.config``, ``trainer.loop``, ``schemas``
(its error classes)."""
