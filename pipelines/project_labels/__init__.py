"""Label projection (paper 002, §2.2): gold spans of a labelled source set carried onto its translations.

    python -m pipelines.project_labels --source F --src-lang en --translations F --tgt-lang de --output DIR
    python -m pipelines.project_labels evaluate --predicted DIR_OR_CONLL --gold F

Modules, one job each: ``translations`` (reading the source CoNLL, translations, extra parallel text),
``projection`` (span-to-span / word-to-word mapping and the conflict policy, pure Python), ``pipeline`` (the
Beam graph: ``build_pipeline(pipeline, config)``), ``evaluate`` (CoNLL entity-level P/R/F1).
"""
