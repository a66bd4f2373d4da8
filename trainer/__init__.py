"""The trainer: pretraining and fine-tuning on polyspan shards with PyTorch (ARCHITECTURE.md, "The trainer").

Its parts, lowest first; each sub-package may import only the ones its docstring names (and
tests/test_import_boundaries.py checks that it does):

- ``config.py``: the config language (YAML + ``key=value`` overrides into dataclasses). Imports nothing of
  the trainer.
- ``loop/``: the one training loop, its hooks, checkpoints with exact resume, distribution.
- ``data/``: shards and raw files into examples, features and batches; tokenizer training.
- ``models/``: backbones and the heads on them.
- ``objectives/``: pretraining objectives by name (WAE, CLISM), and the MLM and XSR losses and measures.
- ``tasks/``: fine-tuning tasks by name, one class per (task, head); decoding, metrics, reports, FILTER's
  paired streams.
- ``adaptation/``: how a fine-tuning run adapts across languages: data mixing and MTL-WS (paper 002),
  constraints and their memories and the retention probes (paper 003), self-teaching (paper 004).
- Entry points, one per command, none importing another: ``pretrain.py``, ``finetune.py`` (with its config,
  ``finetune_config.py``), ``evaluate.py``, ``predict.py``; ``cli.py`` is what they share around their body.
"""
