"""The one training loop (``train``), its extension points (step rules, loop hooks), checkpoints with exact
resume, and the distributed set-up. May import: ``trainer.config``, ``schemas`` (its
error classes)."""
