"""The names of the files in a dataset folder, chosen so that the tools people open data folders with read the
folder as it is.

pyarrow (and pandas through it), DuckDB, Spark and Hadoop skip files and sub-folders whose names start with
``_`` or ``.`` (the way Spark writes ``_SUCCESS``); Hugging Face ``datasets`` takes the data files the YAML in
``.huggingface.yaml`` names (read from a local folder and on the Hub alike). So the shards keep their place at
the top of the folder and everything else a dataset holds is named with one of those prefixes::

    part-00000-of-00002.parquet   the rows
    _manifest.json                what made the dataset and what it holds (manifest.json in older folders)
    _README.md                    the dataset card: the Hugging Face YAML header and the manifest in prose
    .huggingface.yaml             the card's YAML alone, where ``datasets.load_dataset(folder)`` reads it
    _report/                      ``python -m pipelines.report`` (report/ in older folders)
    _claim.json                   only while a run writes the dataset: which run (pipelines/publish.py)
    _staging-<run id>/            only while a run writes the dataset: its shards before they are published

A card named ``README.md`` would be read as a shard by pyarrow and pandas (they skip ``_`` and ``.`` names
only), which is why the card is ``_README.md`` and its YAML travels in ``.huggingface.yaml``.
"""
from __future__ import annotations

MANIFEST = "_manifest.json"
LEGACY_MANIFEST = "manifest.json"  # read, never written
CARD = "_README.md"
HF_YAML = ".huggingface.yaml"
REPORT_DIR = "_report"
LEGACY_REPORT_DIR = "report"
CLAIM = "_claim.json"
STAGING_PREFIX = "_staging-"
SHARD_GLOB = "part-*.parquet"

# Parquet key-value metadata of every shard: the run that wrote it, which its manifest names too.
RUN_ID_KEY = b"polyspan.run_id"


def skipped_by_readers(name: str) -> bool:
    """Whether the data tools skip a file or folder of this name when given the dataset folder."""
    return name.startswith(("_", "."))
