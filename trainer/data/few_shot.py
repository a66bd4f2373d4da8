"""The few-shot protocol of paper 000 Appendix C: training sets of {64, 128, 256, 512, 1024} examples, each
size sampled with 5 seeds, a fixed 200 optimisation steps per run, and the mean over seeds reported.

Sampling is keyed, not sequential (DESIGN.md: randomness from (seed, stable key of the item)): every example
id gets a rank from a hash of (seed, id) and a sample is the ``size`` lowest-ranked ids. So the same seed
gives the same ids whatever order the data is read in, and for one seed the smaller sets are nested in the
larger ones.
"""
from __future__ import annotations

import hashlib
import math
from typing import Iterable, Mapping, Sequence

from schemas.errors import InputDataError

FEW_SHOT_SIZES = (64, 128, 256, 512, 1024)
FEW_SHOT_SEEDS = (0, 1, 2, 3, 4)
FEW_SHOT_STEPS = 200  # paper 000 Appendix C


def _rank(seed: int, example_id: str) -> bytes:
    return hashlib.blake2b(f"{seed}\x1f{example_id}".encode("utf-8"), digest_size=16).digest()


def sample_ids(ids: Iterable[str], size: int, seed: int) -> list[str]:
    """``size`` distinct ids drawn with ``seed`` (sorted by their keyed rank); an error if there are fewer
    ids than ``size`` or duplicates."""
    ids = list(ids)
    unique = set(ids)
    if len(unique) != len(ids):
        raise InputDataError(f"{len(ids) - len(unique)} duplicate example ids; few-shot sampling needs unique ids")
    if size > len(ids) or size < 1:
        raise InputDataError(f"cannot sample {size} examples from {len(ids)}")
    return sorted(ids, key=lambda example_id: _rank(seed, example_id))[:size]


def few_shot_plan(ids: Iterable[str], sizes: Sequence[int] = FEW_SHOT_SIZES,
                  seeds: Sequence[int] = FEW_SHOT_SEEDS) -> dict[tuple[int, int], list[str]]:
    """``(size, seed) -> ids`` for every run of the protocol."""
    ids = list(ids)
    return {(size, seed): sample_ids(ids, size, seed) for size in sizes for seed in seeds}


def summarize_runs(runs: Iterable[Mapping]) -> dict[int, dict[str, dict[str, float]]]:
    """Per training-set size and metric: the mean, the sample standard deviation, min, max and the number
    of runs. ``runs`` are ``{"size": n, "seed": s, "metrics": {name: value}}`` records."""
    grouped: dict[int, dict[str, list[float]]] = {}
    seen = set()
    for run in runs:
        key = (int(run["size"]), int(run["seed"]))
        if key in seen:
            raise ValueError(f"two runs of size {key[0]} with seed {key[1]}")
        seen.add(key)
        for metric, value in run["metrics"].items():
            grouped.setdefault(key[0], {}).setdefault(metric, []).append(float(value))
    summary = {}
    for size in sorted(grouped):
        summary[size] = {}
        for metric, values in grouped[size].items():
            mean = sum(values) / len(values)
            spread = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0.0
            summary[size][metric] = {"mean": mean, "std": spread, "min": min(values), "max": max(values),
                                     "runs": len(values)}
    return summary
