"""The word-alignment options of every pipeline that aligns (``pipelines.clism``, ``pipelines.project_labels``),
defined once: the flags, their help, their defaults and how they reach ``AlignPairs`` and the aligner.

    add_alignment_arguments(parser, "clism")          # --aligner, --heuristic, --links-file, ...
    options = alignment_from_args(args)               # an AlignmentOptions (goes into the config and manifest)
    pairs | AlignPairs.from_options(options, seed)

Every alignment default lives in ``PIPELINE_DEFAULTS`` below (one ``AlignmentOptions`` per pipeline); the flags,
the configs and ``AlignPairs`` all read them from there.
"""
from __future__ import annotations

import argparse
import dataclasses
import inspect
from dataclasses import dataclass
from typing import Any

from alignment import ALIGNERS, HEURISTICS, TEXT_ALIGNERS, canonical_aligner, canonical_heuristic
from alignment.external import BIN_ENV
from schemas.errors import UsageError


@dataclass(frozen=True)
class AlignmentOptions:
    """How a pipeline aligns its sentence pairs (plain values: pickled to workers, written to manifests)."""

    aligner: str = "eflomal"
    heuristic: str = "grow-diag-final-and"
    # Precomputed links instead of an aligner: `KEY<TAB>i-j ...` lines (pipelines.align.transforms).
    links_file: str | None = None
    lowercase: bool = False
    # Pairs per batch. Only eflomal and fast_align hand a model from a sample on to batches; GIZA++ trains one
    # model per batch, so batches should be large enough to estimate one (20,000 pairs: a few minutes of
    # MGIZA++ per direction) while still splitting large corpora across workers.
    batch_size: int = 20_000
    # Pairs of a language pair aligned together on one worker, whose links are kept and whose model (eflomal
    # priors, fast_align tables) aligns the other pairs' batches. That run is the critical path of a large
    # group's wall time (every batch waits for it). eflomal gives n pairs 5000/sqrt(n) iterations, so it costs
    # ~sqrt(n) (measured on WMT en-de: 2,500 / 5,000 / 10,000 pairs take 31 / 45 / 64 s CPU), about 2.5 minutes
    # for 50,000 pairs on one core and twice that for 200,000, plus the priors and a 4x larger Top accumulator
    # in memory. 50,000 pairs already give priors for every frequent word (rare words gain little from priors
    # at any size), and language pairs up to this size are aligned in a single run, without batches.
    priors_sample: int = 50_000
    aligner_bin: str | None = None  # folder of fast_align / GIZA++ / mgiza (else $POLYSPAN_ALIGNER_BIN, PATH)
    threads: int | None = None  # mgiza -ncpus / fast_align OpenMP threads per batch
    eflomal_samplers: int | None = None  # None: the alignment layer's default (6)
    eflomal_rel_iterations: float | None = None

    def __post_init__(self):
        object.__setattr__(self, "aligner", canonical_aligner(self.aligner))
        if self.aligner not in TEXT_ALIGNERS:
            raise UsageError(f"--aligner {self.aligner} does not align text; give --links-file for links computed "
                             f"elsewhere, or one of {', '.join(TEXT_ALIGNERS)}")
        object.__setattr__(self, "heuristic", canonical_heuristic(self.heuristic))
        for name in ("batch_size", "priors_sample", "threads", "eflomal_samplers"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise UsageError(f"--{FLAGS[name]} must be at least 1, not {value}")
        self.aligner_options()  # an option the chosen aligner does not take fails here, before any worker

    def aligner_options(self) -> dict[str, Any]:
        """Constructor options of the chosen aligner: those set here that its class takes. One that is set
        but not taken (``--eflomal-samplers`` with ``--aligner giza``) is an error naming the flag."""
        taken = inspect.signature(ALIGNERS[self.aligner].factory).parameters
        out = {}
        for field_name, parameter in CONSTRUCTOR_OPTIONS.items():
            value = getattr(self, field_name)
            if value is None:
                continue
            if parameter not in taken:
                raise UsageError(f"--{FLAGS[field_name]} does not apply to --aligner {self.aligner}")
            out[parameter] = value
        return out

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# Option → the aligner constructor parameter it sets.
CONSTRUCTOR_OPTIONS = {"aligner_bin": "binary", "threads": "threads", "eflomal_samplers": "n_samplers",
                       "eflomal_rel_iterations": "rel_iterations"}

# Option → its command-line flag, and the older spellings still accepted.
FLAGS = {"aligner": "aligner", "heuristic": "heuristic", "links_file": "links-file",
         "lowercase": "lowercase-alignment", "batch_size": "align-batch-size", "priors_sample": "priors-sample",
         "aligner_bin": "aligner-bin", "threads": "align-threads", "eflomal_samplers": "eflomal-samplers",
         "eflomal_rel_iterations": "eflomal-rel-iterations"}
OLD_SPELLINGS = {"links_file": ("--links",), "lowercase": ("--lowercase",)}


# Each pipeline's alignment defaults: AlignmentOptions' own field defaults above, and here where a pipeline
# departs from them (nothing else in the project writes an alignment default).
PIPELINE_DEFAULTS = {
    "clism": AlignmentOptions(),
    # Projection: grow-diag-final-and, as CLISM (intersection wins only Europarl en→de and loses every other
    # gold pair; bench/projection_gold.py, docs/project_labels.md).
    "project_labels": AlignmentOptions(),
}


def add_alignment_arguments(parser: argparse.ArgumentParser, pipeline: str) -> None:
    """The alignment flags, as one argument group, with ``pipeline``'s defaults."""
    d = PIPELINE_DEFAULTS[pipeline]
    group = parser.add_argument_group("word alignment")

    def add(name: str, **kwargs) -> None:
        group.add_argument(f"--{FLAGS[name]}", *OLD_SPELLINGS.get(name, ()), dest=f"align_{name}",
                           default=getattr(d, name), **kwargs)

    add("aligner", choices=TEXT_ALIGNERS,
        help=f"word aligner (default {d.aligner}): "
             + "; ".join(f"{name}: {ALIGNERS.entry(name).summary}" for name in TEXT_ALIGNERS))
    add("heuristic", choices=HEURISTICS, help=f"symmetrisation of the two directions (default {d.heuristic})")
    add("links_file", metavar="TSV",
        help="precomputed links instead of an aligner: one 'ID<TAB>i-j i-j ...' line per pair (0-based)")
    add("lowercase", action="store_true", help="align lower-cased words (the links index the words as written)")
    add("batch_size", type=int, metavar="N",
        help=f"pairs aligned together on one worker (default {d.batch_size:,}; a language pair that fits is "
             "aligned in one go)")
    add("priors_sample", type=int, metavar="N",
        help=f"pairs of a larger language pair aligned in one run (default {d.priors_sample:,}) whose links are "
             "kept and whose model (eflomal priors, fast_align tables) aligns the other pairs' batches")
    add("aligner_bin", metavar="DIR",
        help=f"folder of the fast_align / GIZA++ / mgiza programs (default: ${BIN_ENV}, then PATH)")
    add("threads", type=int, metavar="N", help="threads of each fast_align / mgiza run (mgiza default 1)")
    add("eflomal_samplers", type=int, metavar="N", help="eflomal samplers (alignment layer default 6)")
    add("eflomal_rel_iterations", type=float, metavar="X", help="scale eflomal's iteration counts")


def alignment_from_args(args: argparse.Namespace) -> AlignmentOptions:
    """The AlignmentOptions of parsed ``add_alignment_arguments`` flags."""
    return AlignmentOptions(**{name: getattr(args, f"align_{name}") for name in FLAGS})
