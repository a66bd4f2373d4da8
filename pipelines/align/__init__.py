"""Word alignment inside Beam, shared by the pipelines that align (``pipelines.clism``,
``pipelines.project_labels``): the flags and defaults (``options``), the transform that aligns sentence pairs at
scale (``transforms``: ``AlignPairs``), and the steps around it that both pipelines take (``joining``: their pairs
to the aligner and back, joined with their links)."""
