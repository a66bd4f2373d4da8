"""Pretraining objectives by name (``registry.py``; one module each: ``wae.py``, ``clism_cacr.py`` with
``clism_model.py``), and the MLM and XSR losses and measures that the constraints' memories and the retention
probes share. May import: ``trainer.config``, ``trainer.loop``, ``trainer.data``, ``trainer.models``,
``schemas``."""
