"""Pretraining objectives by name (``registry.py``: WAE, CLISM with CACR and MLM), and the MLM and XSR losses
and measures that the constraints' memories and the retention probes share. May import: ``trainer.config``,
``trainer.loop``, ``trainer.data``, ``trainer.models``."""
