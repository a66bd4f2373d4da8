"""Cross-lingual adaptation strategies of paper 002 as data-mixing choices: which datasets feed the loop.

- ``zero-shot`` (eq. 3): the labelled source data only.
- ``to`` (target-only, eq. 4): the translated, pseudo-labelled data of one target language only.
- ``bilingual`` (eq. 5): source plus one target's translated data, every example weighted equally - so each
  dataset is drawn in proportion to its size.
- ``mtl`` (eq. 6): source plus the translated data of every target language, examples weighted equally.
- ``mtl-ws`` (eq. 7-9): warm-up on each target's translated data (``trainer.mtl_ws``), then zero-shot on
  the source.

``plan_data`` returns the datasets and their mixing weights for ``trainer.shard_dataset.MixedDataset`` (plus
the warm-up datasets for MTL-WS); sizes come from each dataset's manifest unless given.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from schemas.manifest import read_manifest

STRATEGIES = ("zero-shot", "to", "bilingual", "mtl", "mtl-ws")


@dataclass
class DataPlan:
    strategy: str
    train: list[tuple[str, float]]  # (dataset directory, mixing weight) of the main fine-tuning
    warmup: dict[str, str] = field(default_factory=dict)  # target language -> translated dataset (MTL-WS)


def plan_data(strategy: str, source: str, translated: Mapping[str, str] | None = None,
              target: str | None = None, sizes: Mapping[str, int] | None = None) -> DataPlan:
    """The datasets of ``strategy``: ``source`` is the labelled source-language dataset directory,
    ``translated`` maps each target language to its translated dataset, ``target`` picks one for ``to`` and
    ``bilingual``. ``sizes`` (directory -> rows) overrides the manifests' row counts."""
    translated = dict(translated or {})
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown adaptation strategy {strategy!r}; known: {', '.join(STRATEGIES)}")

    def size(directory: str) -> float:
        if sizes is not None and directory in sizes:
            return float(sizes[directory])
        return float(read_manifest(directory).row_count)

    def one_target() -> str:
        if target is None or target not in translated:
            raise ValueError(f"strategy {strategy!r} needs target= one of the translated languages "
                             f"({', '.join(sorted(translated)) or 'none given'})")
        return translated[target]

    if strategy == "zero-shot":
        return DataPlan(strategy, [(source, 1.0)])
    if strategy == "to":
        return DataPlan(strategy, [(one_target(), 1.0)])
    if strategy == "bilingual":
        datasets = [source, one_target()]
        return DataPlan(strategy, [(d, size(d)) for d in datasets])
    if not translated:
        raise ValueError(f"strategy {strategy!r} needs translated datasets of the target languages")
    if strategy == "mtl":
        datasets = [source, *(translated[lang] for lang in sorted(translated))]
        return DataPlan(strategy, [(d, size(d)) for d in datasets])
    return DataPlan(strategy, [(source, 1.0)], warmup={lang: translated[lang] for lang in sorted(translated)})
