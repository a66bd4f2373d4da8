"""fast_align (Dyer et al. 2013) through its binary: its recommended recipe, both directions, and its trained
parameters handed on to align more pairs later.

The recipe (fast_align's README): ``fast_align -i corpus -d -o -v`` (diagonal favouring, optimised tension,
a Dirichlet prior), once forward and once with ``-r``; symmetrisation is the project's own, which reproduces
``atools -c`` exactly. fast_align's forward run links each target word to at most one source word, its reverse
run each source word to at most one target word; both print source-target ``i-j`` links.

At scale: fast_align can write what it learnt (``-p FILE``: its lexical table; its stderr gives the final
diagonal tension and the target/source length ratio) and align new pairs with it without training
(``-f FILE -T tension -m ratio``, "force align"). ``train`` runs the first on a sample and returns the three
numbers and both directions' tables as one compressed blob; ``with_model`` aligns any batch with it. Words the
sample never saw get fast_align's floor probability, so batches lean on the diagonal prior for them.
"""
from __future__ import annotations

import copy
import json
import os
import re
import tempfile
import zlib
from typing import Dict, List, Optional, Sequence, Tuple

from .base import Aligner, Directional
from .errors import AlignerFailedError
from .external import find_binary, run_command
from .pharaoh import Link, parse_links

INSTALL_HINT = ("Install fast_align (https://github.com/clab/fast_align: cmake && make; no Debian package "
                "exists) and put fast_align on PATH, in $POLYSPAN_ALIGNER_BIN, or pass its directory "
                "(--aligner-bin / binary=).")

DIRECTIONS = (("forward", ()), ("reverse", ("-r",)))
# What fast_align prints on stderr after training, needed to align with its table later.
_TENSION = re.compile(r"final tension:\s*([-+0-9.eE]+)")
_RATIO = re.compile(r"expected target length = source length \*\s*([-+0-9.eE]+)")


def parse_pharaoh_output(text: str, pairs: Sequence, what: str, field: Optional[int] = None) -> List[List[Link]]:
    """One Pharaoh line per pair, indices checked against the pair's lengths. ``field``: the links are that
    ``|||``-separated field of each line (force-align output is ``src ||| tgt ||| links ||| log prob``)."""
    lines = text.splitlines()
    if len(lines) != len(pairs):
        raise AlignerFailedError(f"{what} printed {len(lines)} lines for {len(pairs)} sentence pairs")
    if field is not None:
        lines = [line.split("|||")[field] if line.count("|||") > field else "" for line in lines]
    return [parse_links(line, lengths=(len(s), len(t)), path=what, lineno=k + 1)
            for k, (line, (s, t)) in enumerate(zip(lines, pairs))]


def _last_float(pattern: re.Pattern, text: str, what: str) -> float:
    found = pattern.findall(text)
    if not found:
        raise AlignerFailedError(f"{what}: fast_align did not print {pattern.pattern.split(':')[0]!r}; is this "
                                 "fast_align with -d -o?")
    return float(found[-1])


class FastAlignAligner(Aligner):
    """fast_align with its recommended options (``-d -o -v``). ``binary``: fast_align or its directory
    (default: $POLYSPAN_ALIGNER_BIN, then PATH). ``threads``: its OpenMP threads (OMP_NUM_THREADS; default: the
    environment's); with 1 thread its output is the same on every run, with more the order of its float sums
    varies and a few links with it. ``model``: bytes from ``train``: align with those parameters
    instead of training (see the module's docstring)."""

    name = "fast_align"
    shares_model = True

    def __init__(self, binary: Optional[str] = None, iterations: int = 5, extra_args: Sequence[str] = (),
                 tmp_dir: Optional[str] = None, timeout: Optional[float] = None, model: Optional[bytes] = None,
                 threads: Optional[int] = None):
        if threads is not None and threads < 1:
            raise ValueError("threads must be at least 1")
        self.binary = binary
        self.threads = threads
        self.iterations = iterations
        self.extra_args = tuple(extra_args)
        self.tmp_dir = tmp_dir
        self.timeout = timeout
        self.model = model or None

    def _env(self) -> Optional[Dict[str, str]]:
        return None if self.threads is None else {"OMP_NUM_THREADS": str(self.threads)}

    def _exe(self) -> str:
        return find_binary(["fast_align"], self.binary, "fast_align aligner", INSTALL_HINT)

    @staticmethod
    def _write_input(tmp: str, pairs) -> str:
        path = os.path.join(tmp, "input.src-tgt")
        with open(path, "w", encoding="utf-8") as f:
            for s, t in pairs:
                f.write(f"{' '.join(s)} ||| {' '.join(t)}\n")
        return path

    def _run(self, pairs, export: bool) -> Tuple[List[List[Link]], List[List[Link]], Optional[bytes]]:
        exe = self._exe()
        with tempfile.TemporaryDirectory(prefix="polyspan-fast_align-", dir=self.tmp_dir) as tmp:
            path = self._write_input(tmp, pairs)
            if self.model is not None:
                return (*self._force_align(exe, tmp, path, pairs), None)
            out, learnt = [], {}
            for direction, flags in DIRECTIONS:
                args = [exe, "-i", path, "-d", "-o", "-v", "-I", str(self.iterations), *self.extra_args, *flags]
                table = os.path.join(tmp, f"{direction}.params")
                if export:
                    args += ["-p", table]
                proc = run_command(args, f"fast_align ({direction})", cwd=tmp, timeout=self.timeout,
                                   env=self._env())
                out.append(parse_pharaoh_output(proc.stdout.decode("utf-8", "replace"), pairs,
                                                f"fast_align {direction} output"))
                if export:
                    log = proc.stderr.decode("utf-8", "replace")
                    with open(table, encoding="utf-8") as f:
                        learnt[direction] = {"tension": _last_float(_TENSION, log, direction),
                                             "ratio": _last_float(_RATIO, log, direction), "table": f.read()}
        model = zlib.compress(json.dumps(learnt).encode("utf-8"), 6) if export else None
        return out[0], out[1], model

    def _force_align(self, exe: str, tmp: str, path: str, pairs) -> Directional:
        learnt: Dict[str, dict] = json.loads(zlib.decompress(self.model).decode("utf-8"))
        out = []
        for direction, flags in DIRECTIONS:
            params = learnt[direction]
            table = os.path.join(tmp, f"{direction}.params")
            with open(table, "w", encoding="utf-8") as f:
                f.write(params["table"])
            args = [exe, "-i", path, "-d", "-v", "-f", table, "-T", repr(params["tension"]),
                    "-m", repr(params["ratio"]), *self.extra_args, *flags]
            proc = run_command(args, f"fast_align ({direction}, with trained parameters)", cwd=tmp,
                               timeout=self.timeout, env=self._env())
            out.append(parse_pharaoh_output(proc.stdout.decode("utf-8", "replace"), pairs,
                                            f"fast_align {direction} output", field=2))
        return out[0], out[1]

    def _align_nonempty(self, pairs) -> Directional:
        fwd, rev, _ = self._run(pairs, export=False)
        return fwd, rev

    def _train_nonempty(self, pairs):
        if self.model is not None:
            raise ValueError("this fast_align aligner already aligns with a trained model; train one without")
        return self._run(pairs, export=True)

    def with_model(self, model: bytes, corpus_size: int) -> "FastAlignAligner":
        # Every other setting as this aligner's (a copy, so one added to __init__ cannot be forgotten here).
        aligner = copy.copy(self)
        aligner.model = model or None
        return aligner
