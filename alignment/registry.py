"""Every aligner by name, in one place: the command lines, the Beam transform and the pipelines all choose
from this registry (adding an aligner is one ``ALIGNERS.register`` line here).

    make_aligner("giza", threads=4)        # GIZA++ if installed, else MGIZA++
    TEXT_ALIGNERS                          # the names that align text (what the pipelines' --aligner offers)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Tuple

from schemas.registry import Registry

from .base import Aligner
from .eflomal_aligner import EflomalAligner
from .fast_align import FastAlignAligner
from .giza import GizaAligner
from .precomputed import PrecomputedAligner


@dataclass(frozen=True)
class RegisteredAligner:
    factory: Callable[..., Aligner]
    aligns_text: bool = True  # False: links come from files (precomputed); not a pipeline --aligner choice
    fixed_options: Tuple[Tuple[str, Any], ...] = ()  # options the name itself sets (mgiza: variant=mgiza)

    def make(self, **options: Any) -> Aligner:
        return self.factory(**dict(self.fixed_options), **options)


# Names are matched whatever their case: users type GIZA++ as often as giza++.
ALIGNERS: Registry[RegisteredAligner] = Registry("aligner", ignore_case=True)
ALIGNERS.register("eflomal", RegisteredAligner(EflomalAligner), "eflomal (in-process, PyPI package; the default)",
                  default=True)
ALIGNERS.register("fast_align", RegisteredAligner(FastAlignAligner),
                  "fast_align -d -o -v, both directions (its binary)", aliases=("fast-align", "fastalign"))
ALIGNERS.register("giza", RegisteredAligner(GizaAligner),
                  "GIZA++ with Moses' recipe; MGIZA++ when GIZA++ is not installed", aliases=("giza++",))
ALIGNERS.register("mgiza", RegisteredAligner(GizaAligner, fixed_options=(("variant", "mgiza"),)),
                  "MGIZA++ only (giza with variant=mgiza)", aliases=("mgiza++",))
ALIGNERS.register("precomputed", RegisteredAligner(PrecomputedAligner, aligns_text=False),
                  "Pharaoh links files computed elsewhere")

DEFAULT_ALIGNER = ALIGNERS.default
TEXT_ALIGNERS = tuple(name for name, aligner in ALIGNERS.items() if aligner.aligns_text)


def canonical_aligner(name: str) -> str:
    """The registered name of an aligner (aliases resolved, case ignored); ``UnknownNameError`` listing the
    choices."""
    return ALIGNERS.canonical(name)


def make_aligner(name: str = DEFAULT_ALIGNER, **options: Any) -> Aligner:
    """An aligner by registered name (or alias) with its constructor options."""
    return ALIGNERS[name].make(**options)
