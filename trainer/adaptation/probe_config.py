"""``ProbeConfig``, the ``probes`` section of a fine-tuning config and the probe flags of ``trainer.evaluate``: a
plain dataclass apart from the measurement (trainer/adaptation/retention.py, which imports torch), so that the
commands build their command line and check a config without loading torch.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from trainer.config import ConfigError


@dataclass
class ProbeConfig:
    """Paper 003's Table 1 measurement: MLM perplexity per language and XSR P@1/5/10 on held-out probe data,
    before and after fine-tuning (``retention`` in the run's report).

    Probe files: ``mlm`` (language -> text file, one sentence per line) and ``xsr`` (name -> [source file, target
    file], line-parallel); an empty mapping takes the files of ``constraint.memories``. The probe slice of a file is
    ``size`` sentences (pairs) after the first ``skip``; ``skip`` None skips what the memories read of that file
    (``constraint.memories.size``), 0 for other files, so memory and probe data come from different slices. Probe
    items whose text is also in a memory are dropped as well (counted in the report): held-out by content, not
    only by position."""

    mlm: dict[str, Any] = field(default_factory=dict)
    xsr: dict[str, Any] = field(default_factory=dict)
    enabled: bool = True  # false: no measurement even with memories configured
    size: int = 256  # sentences (pairs) per probe
    skip: int | None = None
    batch_size: int = 32
    max_length: int = 128
    seed: int | None = None  # masking seed (keyed by sentence id); None: train.seed

    def check(self) -> None:
        for name, files in self.xsr.items():
            if not (isinstance(files, (list, tuple)) and len(files) == 2):
                raise ConfigError(f"probes.xsr.{name}: expected [source file, target file]")
        if self.size < 1 or self.batch_size < 1 or (self.skip is not None and self.skip < 0):
            raise ConfigError("probes.size and probes.batch_size must be at least 1, probes.skip at least 0")
