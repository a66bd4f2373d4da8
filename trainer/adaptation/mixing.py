"""Paper 002's cross-lingual adaptations as data-mixing choices: which datasets feed the loop.

An *adaptation* (``adaptation.name`` in a fine-tuning config) says which labelled data a run trains on:

- ``zero-shot`` (eq. 3): the labelled source data only.
- ``to`` (target-only, eq. 4): the translated, pseudo-labelled data of one target language only.
- ``bilingual`` (eq. 5): source plus one target's translated data, every example weighted equally - so each
  dataset is drawn in proportion to its size.
- ``mtl`` (eq. 6): source plus the translated data of every target language, examples weighted equally.
- ``mtl-ws`` (eq. 7-9): warm-up on each target's translated data (``trainer.adaptation.mtl_ws``), then zero-shot on
  the source.

``plan_data`` returns the datasets and their mixing weights for ``trainer.data.shards.MixedDataset`` (plus
the warm-up datasets for MTL-WS); sizes come from each dataset's manifest unless given. ``AdaptationConfig`` is
the config section; ``translate-train`` is the common name of TO.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping

from schemas.manifest import read_manifest
from schemas.registry import Registry
from trainer.adaptation.mtl_ws import MTLWSConfig


@dataclass
class AdaptationConfig:
    """The ``adaptation`` section of a fine-tuning config."""

    name: str = "zero-shot"  # zero-shot | translate-train (= to) | bilingual | mtl | mtl-ws (ADAPTATIONS below)
    target: str | None = None  # the target language of translate-train and bilingual
    # MTL-WS (paper 002 Table 6, XLM-R NER): Z = 50, K = 20; γ = 5e-5, β = 1e-3.
    mtl_ws: MTLWSConfig = field(default_factory=MTLWSConfig)

    @property
    def plan_name(self) -> str:
        """The registered name of ``name`` (``to`` for ``translate-train``); an unknown name as it is, for the
        config's check to name."""
        return ADAPTATIONS.canonical(self.name) if self.name in ADAPTATIONS else self.name


@dataclass
class DataPlan:
    adaptation: str
    train: list[tuple[str, float]]  # (dataset directory, mixing weight) of the main fine-tuning
    warmup: dict[str, str] = field(default_factory=dict)  # target language -> translated dataset (MTL-WS)


def plan_data(adaptation: str, source: str, translated: Mapping[str, str] | None = None,
              target: str | None = None, sizes: Mapping[str, int] | None = None) -> DataPlan:
    """The datasets of ``adaptation``: ``source`` is the labelled source-language dataset directory,
    ``translated`` maps each target language to its translated dataset, ``target`` picks one for ``to`` and
    ``bilingual``. ``sizes`` (directory -> rows) overrides the manifests' row counts."""
    translated = dict(translated or {})
    planner = ADAPTATIONS[adaptation]  # an unknown name: UnknownNameError listing the adaptations
    adaptation = ADAPTATIONS.canonical(adaptation)

    def size(directory: str) -> float:
        if sizes is not None and directory in sizes:
            return float(sizes[directory])
        return float(read_manifest(directory).row_count)

    def one_target() -> str:
        if target is None or target not in translated:
            raise ValueError(f"adaptation {adaptation!r} needs target= one of the translated languages "
                             f"({', '.join(sorted(translated)) or 'none given'})")
        return translated[target]

    needs = {"one_target": one_target, "size": size, "name": adaptation}
    return DataPlan(adaptation, *planner(source, translated, needs))


# Each adaptation's datasets: (training datasets with weights, MTL-WS warm-up datasets by language).
Planner = Callable[[str, dict, dict], tuple[list, dict]]


def _zero_shot(source, translated, needs):
    return [(source, 1.0)], {}


def _target_only(source, translated, needs):
    return [(needs["one_target"](), 1.0)], {}


def _bilingual(source, translated, needs):
    return [(d, needs["size"](d)) for d in (source, needs["one_target"]())], {}


def _every_target(translated, needs) -> list[str]:
    if not translated:
        raise ValueError(f"adaptation {needs['name']!r} needs translated datasets of the target languages")
    return [translated[lang] for lang in sorted(translated)]


def _mtl(source, translated, needs):
    return [(d, needs["size"](d)) for d in (source, *_every_target(translated, needs))], {}


def _mtl_ws(source, translated, needs):
    _every_target(translated, needs)
    return [(source, 1.0)], {lang: translated[lang] for lang in sorted(translated)}


# The adaptations by name, in the papers' order: a new one is a planner above and a line here.
ADAPTATIONS: Registry[Planner] = Registry("adaptation")
ADAPTATIONS.register("zero-shot", _zero_shot, "the labelled source data only (eq. 3)", default=True)
ADAPTATIONS.register("to", _target_only, "target-only: one target's translated data (eq. 4)",
                     aliases=("translate-train",))
ADAPTATIONS.register("bilingual", _bilingual, "source plus one target's translated data, examples weighted equally "
                     "(eq. 5)")
ADAPTATIONS.register("mtl", _mtl, "source plus every target's translated data, examples weighted equally (eq. 6)")
ADAPTATIONS.register("mtl-ws", _mtl_ws, "warm-up on each target's translated data, then zero-shot (eq. 7-9)")
