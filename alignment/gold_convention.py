"""Whether a gold alignment file counts words from 0 or from 1, told from the file itself.

Gold sets disagree: the WPT sets (Hansards en-fr, ro-en) are 1-based, most aligners' output and several
newer gold sets are 0-based. Reading a file in the wrong convention does not fail, it shifts every link by one
and gives a wrong AER (0.547 instead of 0.302 on en-fr), so ``python -m alignment evaluate`` decides only on
evidence and otherwise asks:

- an index 0 anywhere: 0-based (1-based files have no word 0);
- with the sentence lengths known, an index equal to its side's length somewhere: 1-based (the last word of a
  0-based sentence of n words is n - 1);
- both at once: the file is inconsistent, an error naming both places;
- neither (no index 0, and no lengths or no link reaching a sentence's last word): undecided, the caller must
  be told ``--zero-based`` or ``--one-based``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

from .errors import InputError
from .pharaoh import PathType

_INDEX_PAIR = re.compile(r"(\d+)[-p](\d+)")


@dataclass(frozen=True)
class Convention:
    """The outcome: ``one_based`` is None when the file does not say; ``evidence`` is one human sentence."""

    one_based: Optional[bool]
    evidence: str


def detect_gold_convention(path: PathType, lengths: Optional[Sequence[Tuple[int, int]]] = None) -> Convention:
    """Read ``path`` (``i-j``/``ipj`` links per line) and decide its index base from its own indices and, when
    given, the (source, target) word counts of its sentence pairs. Malformed links are left to the reader
    that follows (it names them); only well-formed pairs are looked at here."""
    zero_at = last_at = None  # (line number, link text) of the first evidence of each kind
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            n_src, n_tgt = lengths[lineno - 1] if lengths is not None and lineno <= len(lengths) else (None, None)
            for match in _INDEX_PAIR.finditer(line):
                i, j = int(match.group(1)), int(match.group(2))
                if zero_at is None and (i == 0 or j == 0):
                    zero_at = (lineno, match.group(0))
                if last_at is None and n_src is not None and (i == n_src or j == n_tgt):
                    last_at = (lineno, match.group(0), n_src, n_tgt)
            if zero_at is not None and (last_at is not None or lengths is None):
                break
    if zero_at is not None and last_at is not None:
        raise InputError(
            f"mixes index conventions: link {zero_at[1]} on line {zero_at[0]} has an index 0 (0-based), link "
            f"{last_at[1]} on line {last_at[0]} has an index equal to its sentence's length ({last_at[2]} source, "
            f"{last_at[3]} target words: 1-based); fix the file", path)
    if zero_at is not None:
        return Convention(False, f"0-based: link {zero_at[1]} on line {zero_at[0]} has an index 0")
    if last_at is not None:
        return Convention(True, f"1-based: no index 0, and link {last_at[1]} on line {last_at[0]} has an index equal to "
                                f"its sentence's length ({last_at[2]} source, {last_at[3]} target words)")
    if lengths is None:
        return Convention(None, "no index 0, and without the sentences (--input or --src/--tgt) their lengths "
                                "are unknown")
    return Convention(None, "no index 0, and no link reaches a sentence's last word")
