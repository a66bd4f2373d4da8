"""The pipelines on each engine (Prism, Flink, Spark) against the local runner: same rows, same counts.

A package, so pytest imports its conftest as ``engines.conftest`` and not as a second top-level ``conftest``
that would shadow ``tests/conftest.py``."""
