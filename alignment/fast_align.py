"""fast_align (Dyer et al. 2013) through its binary: forward and reverse runs on a ``src ||| tgt`` file,
Pharaoh links read from its stdout.

fast_align's forward run links each target word to at most one source word, its reverse run each source
word to at most one target word; both print source-target ``i-j`` links, ready for symmetrisation.
"""
from __future__ import annotations

import os
import tempfile
from typing import List, Optional, Sequence

from .base import Aligner, Directional
from .errors import AlignerFailedError
from .external import find_binary, run_command
from .pharaoh import Link, parse_links

INSTALL_HINT = ("Install fast_align (https://github.com/clab/fast_align: cmake && make; no Debian package "
                "exists) and put fast_align on PATH or pass its path (--binary / binary=).")


def parse_pharaoh_output(text: str, pairs: Sequence, what: str) -> List[List[Link]]:
    """One Pharaoh line per pair, indices checked against the pair's lengths."""
    lines = text.splitlines()
    if len(lines) != len(pairs):
        raise AlignerFailedError(f"{what} printed {len(lines)} lines for {len(pairs)} sentence pairs")
    return [parse_links(line, lengths=(len(s), len(t)), path=what, lineno=k + 1)
            for k, (line, (s, t)) in enumerate(zip(lines, pairs))]


class FastAlignAligner(Aligner):
    """fast_align with its recommended options (``-d -o -v``: diagonal favouring, optimised tension,
    Dirichlet prior). ``binary``: path to fast_align (or its directory); default: PATH."""

    name = "fast_align"

    def __init__(self, binary: Optional[str] = None, iterations: int = 5, extra_args: Sequence[str] = (),
                 tmp_dir: Optional[str] = None, timeout: Optional[float] = None):
        self.binary = binary
        self.iterations = iterations
        self.extra_args = tuple(extra_args)
        self.tmp_dir = tmp_dir
        self.timeout = timeout

    def _align_nonempty(self, pairs) -> Directional:
        exe = find_binary(["fast_align"], self.binary, "fast_align aligner", INSTALL_HINT)
        with tempfile.TemporaryDirectory(prefix="polyspan-fast_align-", dir=self.tmp_dir) as tmp:
            path = os.path.join(tmp, "input.src-tgt")
            with open(path, "w", encoding="utf-8") as f:
                for s, t in pairs:
                    f.write(f"{' '.join(s)} ||| {' '.join(t)}\n")
            base = [exe, "-i", path, "-d", "-o", "-v", "-I", str(self.iterations), *self.extra_args]
            out = []
            for direction, flags in (("forward", []), ("reverse", ["-r"])):
                proc = run_command(base + flags, f"fast_align ({direction})", cwd=tmp, timeout=self.timeout)
                out.append(parse_pharaoh_output(proc.stdout.decode("utf-8", "replace"), pairs,
                                                f"fast_align {direction} output"))
        return out[0], out[1]
