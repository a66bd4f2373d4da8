"""The import's configuration: its fields are the command's flags. Kept apart from the Beam graph
(``pipeline.py``) so that ``--help`` and a wrong flag answer without importing Beam."""
from __future__ import annotations

from dataclasses import dataclass

from pipelines.config_arguments import flag


@dataclass
class ImportConllConfig:
    """Everything the graph needs, resolved on the launching machine: ``inputs`` are the matched files (Beam
    filesystem paths, so a worker opens them itself), nothing else of the launcher travels. Each option's default
    and help are written here once: the command's flags are made from these fields."""
    inputs: list[str]
    lang: str
    output: str
    encoding: str = flag("utf-8", "file encoding (CoNLL-2002 is latin-1)", show_default=False)
    tag_column: int = flag(-1, "column of the tag (default: the last)")
    tag_scheme: str = flag("BIOES", "output tag scheme", choices=("BIOES", "BIO"), show_default=False)
    num_shards: int = flag(0, "number of shards (0: the runner decides)", show_default=False)
    overwrite: bool = False  # not part of the graph: whether a finished dataset in ``output`` may be replaced

    def manifest_config(self) -> dict:
        """What the manifest records as the run's configuration (inputs and output are recorded apart)."""
        return {"lang": self.lang, "encoding": self.encoding, "tag_column": self.tag_column,
                "tag_scheme": self.tag_scheme}
