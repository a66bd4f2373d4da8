"""Fine-tuning tasks by name (``registry.py``): one ``Task`` class per (task, head) with its reader, batches,
head, decoding and metric; FILTER's paired streams; the per-language report. May import: ``trainer.config``,
``trainer.loop``, ``trainer.data``, ``trainer.models``, ``schemas``."""
