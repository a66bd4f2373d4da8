"""Labelled CoNLL files → a ``tagged`` dataset: ``python -m pipelines.import_conll --help``.

Modules: ``config`` (the run's options, the command's flags; no Beam), ``pipeline`` (the Beam graph:
``build_pipeline(pipeline, config)``), ``__main__`` (the command line).
"""
