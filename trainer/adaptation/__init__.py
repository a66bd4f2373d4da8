"""How a fine-tuning run adapts across languages: data mixing and MTL-WS (paper 002), optimisation
constraints with their episodic memories and the retention probes (paper 003), self-teaching (paper 004).
May import: ``trainer.config``, ``trainer.loop``, ``trainer.data``, ``trainer.models``, ``trainer.objectives``,
``trainer.tasks``, ``schemas``."""
