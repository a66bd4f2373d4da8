"""Every aligner by name, in one place: the command lines, the Beam transform and the pipelines all choose
from this table (adding an aligner is one entry here).

    make_aligner("giza", threads=4)        # GIZA++ if installed, else MGIZA++
    TEXT_ALIGNERS                          # the names that align text (what the pipelines' --aligner offers)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, Tuple

from .base import Aligner
from .eflomal_aligner import EflomalAligner
from .fast_align import FastAlignAligner
from .giza import GizaAligner
from .precomputed import PrecomputedAligner


@dataclass(frozen=True)
class RegisteredAligner:
    factory: Callable[..., Aligner]
    summary: str
    aligns_text: bool = True  # False: links come from files (precomputed); not a pipeline --aligner choice
    fixed_options: Tuple[Tuple[str, Any], ...] = ()  # options the name itself sets (mgiza: variant=mgiza)

    def make(self, **options: Any) -> Aligner:
        return self.factory(**dict(self.fixed_options), **options)


ALIGNERS: Dict[str, RegisteredAligner] = {
    "eflomal": RegisteredAligner(EflomalAligner, "eflomal (in-process, PyPI package; the default)"),
    "fast_align": RegisteredAligner(FastAlignAligner, "fast_align -d -o -v, both directions (its binary)"),
    "giza": RegisteredAligner(GizaAligner, "GIZA++ with Moses' recipe; MGIZA++ when GIZA++ is not installed"),
    "mgiza": RegisteredAligner(GizaAligner, "MGIZA++ only (giza with variant=mgiza)",
                               fixed_options=(("variant", "mgiza"),)),
    "precomputed": RegisteredAligner(PrecomputedAligner, "Pharaoh links files computed elsewhere",
                                     aligns_text=False),
}
# Other spellings users type for the same aligners.
ALIASES = {"fast-align": "fast_align", "fastalign": "fast_align", "giza++": "giza", "mgiza++": "mgiza"}
DEFAULT_ALIGNER = "eflomal"
TEXT_ALIGNERS = tuple(name for name, entry in ALIGNERS.items() if entry.aligns_text)


def canonical_aligner(name: str) -> str:
    """The registered name of an aligner (aliases resolved, case ignored); ValueError listing the choices."""
    key = ALIASES.get(name.lower(), name.lower())
    if key not in ALIGNERS:
        raise ValueError(f"unknown aligner {name!r}; choose one of {', '.join(ALIGNERS)}")
    return key


def make_aligner(name: str = DEFAULT_ALIGNER, **options: Any) -> Aligner:
    """An aligner by registered name (or alias) with its constructor options."""
    return ALIGNERS[canonical_aligner(name)].make(**options)
