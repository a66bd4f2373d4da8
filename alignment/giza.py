"""GIZA++ / MGIZA++ (Och & Ney 2003) through their binaries, and a parser for their ``A3.final`` output.

The corpus files GIZA reads are written here in Python (``.vcb``: ``id word count`` from id 2; ``.snt``:
``1`` / source ids / target ids per pair, as Moses does), so only ``snt2cooc`` (co-occurrence file) and the
aligner itself are external; ``mkcls`` word classes are used when mkcls is found, else one class per file.

GIZA models P(target | source): a run with source S and target T links each T word to at most one S word.
Forward = run with the pair's source as S; reverse = run with the roles swapped, then flipped, so both come
out in source-target order for symmetrisation. GIZA cannot handle sentences over 100 words or a length ratio
over 9 (it drops them); those pairs are not sent and get no links (logged).
"""
from __future__ import annotations

import glob
import logging
import os
import re
import tempfile
from collections import Counter
from typing import Dict, List, Optional, Sequence

from .base import Aligner, Directional
from .errors import AlignerFailedError, InputError
from .external import find_binary, run_command
from .pharaoh import Link

logger = logging.getLogger(__name__)

INSTALL_HINT = ("Install GIZA++ (https://github.com/moses-smt/giza-pp: make; provides GIZA++ and "
                "snt2cooc.out) or MGIZA++ (https://github.com/moses-smt/mgiza: provides mgiza and snt2cooc); "
                "no Debian package exists. Put them on PATH or pass their directory (--binary / binary=).")

_HEADER = re.compile(r"#\s*Sentence pair \((\d+)\)")
# "word ({ 1 3 })": the positions (1-based) of the other side's words linked to this word.
_LINKS = re.compile(r"\(\{((?:\s+\d+)*)\s*\}\)")


def parse_a3(text: str, path: str = "A3.final") -> Dict[int, List[Link]]:
    """Parse GIZA's ``A3.final`` text: 3 lines per sentence pair (header with the pair number, the
    target sentence, then ``NULL ({ ... }) w1 ({ ... }) ...``). Returns {pair number (1-based as GIZA
    counts): 0-based (row word, column word) links}, where row words are the ones carrying ``({ })`` (GIZA's
    source) and column words those of the second line (GIZA's target); NULL links are dropped."""
    lines = text.splitlines()
    out: Dict[int, List[Link]] = {}
    k = 0
    while k < len(lines):
        if not lines[k].strip():
            k += 1
            continue
        header = _HEADER.match(lines[k])
        if header is None or k + 2 >= len(lines):
            raise InputError("expected a '# Sentence pair (N) ...' header followed by two lines", path, k + 1)
        number = int(header.group(1))
        n_cols = len(lines[k + 1].split())
        groups = _LINKS.findall(lines[k + 2])
        if not groups:
            raise InputError("no '({ ... })' link groups in the alignment line", path, k + 3)
        links = []
        for row, group in enumerate(groups[1:]):  # groups[0] is NULL
            for pos in group.split():
                col = int(pos) - 1
                if not 0 <= col < n_cols:
                    raise InputError(f"position {pos} past the end of the {n_cols}-word sentence above",
                                     path, k + 3)
                links.append((row, col))
        out[number] = sorted(links)
        k += 3
    return out


def _write_vcb(path: str, sentences: Sequence[Sequence[str]]) -> Dict[str, int]:
    counts = Counter(w for s in sentences for w in s)
    ids = {}
    with open(path, "w", encoding="utf-8") as f:
        for n, (word, count) in enumerate(sorted(counts.items(), key=lambda wc: (-wc[1], wc[0]))):
            ids[word] = n + 2  # 0 is NULL, 1 is UNK in GIZA's vocabulary
            f.write(f"{n + 2} {word} {count}\n")
    return ids


def _write_snt(path: str, first: Sequence[Sequence[str]], second: Sequence[Sequence[str]],
               ids1: Dict[str, int], ids2: Dict[str, int]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for a, b in zip(first, second):
            f.write("1\n" + " ".join(str(ids1[w]) for w in a) + "\n" + " ".join(str(ids2[w]) for w in b) + "\n")


def _write_classes(path: str, ids: Dict[str, int]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for word in ids:
            f.write(f"{word}\t1\n")


class GizaAligner(Aligner):
    """GIZA++ (``variant='giza'``) or MGIZA++ (``variant='mgiza'``, multi-threaded with ``threads``).

    ``binary``: the GIZA++/mgiza executable or the directory holding it and its tools; default: PATH.
    ``options``: extra GIZA options as a flat list (e.g. ``['-m4', '3']``)."""

    name = "giza"

    def __init__(self, binary: Optional[str] = None, variant: str = "giza", threads: int = 1,
                 options: Sequence[str] = (), max_length: int = 100, max_ratio: float = 9.0,
                 tmp_dir: Optional[str] = None, timeout: Optional[float] = None):
        if variant not in ("giza", "mgiza"):
            raise ValueError(f"variant must be 'giza' or 'mgiza', not {variant!r}")
        self.binary = binary
        self.variant = variant
        self.threads = threads
        self.options = tuple(options)
        self.max_length = max_length
        self.max_ratio = max_ratio
        self.tmp_dir = tmp_dir
        self.timeout = timeout

    def _tools(self):
        names = ["GIZA++", "giza++"] if self.variant == "giza" else ["mgiza"]
        exe = find_binary(names, self.binary, f"{self.variant} aligner", INSTALL_HINT)
        tool_dir = os.path.dirname(exe)
        cooc = find_binary(["snt2cooc.out", "snt2cooc"] if self.variant == "giza" else ["snt2cooc", "snt2cooc.out"],
                           None, f"{self.variant} aligner (snt2cooc)", INSTALL_HINT, search_dir=tool_dir)
        try:
            mkcls = find_binary(["mkcls"], None, "mkcls", "", search_dir=tool_dir)
        except FileNotFoundError:
            mkcls = None
        return exe, cooc, mkcls

    def _run_direction(self, tools, tmp: str, name: str, rows, cols) -> Dict[int, List[Link]]:
        """One GIZA run where ``rows`` are GIZA's source sentences and ``cols`` its target sentences."""
        exe, snt2cooc, mkcls = tools
        d = os.path.join(tmp, name)
        os.mkdir(d)
        vcb_s, vcb_t = os.path.join(d, "s.vcb"), os.path.join(d, "t.vcb")
        ids_s, ids_t = _write_vcb(vcb_s, rows), _write_vcb(vcb_t, cols)
        snt, cooc = os.path.join(d, "s_t.snt"), os.path.join(d, "s_t.cooc")
        _write_snt(snt, rows, cols, ids_s, ids_t)
        for vcb, sents, ids in ((vcb_s, rows, ids_s), (vcb_t, cols, ids_t)):
            if mkcls:
                plain = vcb + ".txt"
                with open(plain, "w", encoding="utf-8") as f:
                    f.writelines(" ".join(s) + "\n" for s in sents)
                run_command([mkcls, "-c50", "-n2", f"-p{plain}", f"-V{vcb}.classes", "opt"], "mkcls", cwd=d,
                            timeout=self.timeout)
            else:
                _write_classes(vcb + ".classes", ids)
        if self.variant == "mgiza":
            run_command([snt2cooc, cooc, vcb_s, vcb_t, snt], "snt2cooc", cwd=d, timeout=self.timeout)
        else:
            with open(cooc, "wb") as f:
                run_command([snt2cooc, vcb_s, vcb_t, snt], "snt2cooc.out", cwd=d, stdout=f, timeout=self.timeout)
        prefix = os.path.join(d, "giza")
        args = [exe, "-s", vcb_s, "-t", vcb_t, "-c", snt, "-CoocurrenceFile", cooc, "-o", prefix,
                "-nodumps", "1", "-onlyaldumps", "1"]
        if self.variant == "mgiza":
            args += ["-ncpus", str(self.threads)]
        run_command(args + list(self.options), f"{self.variant} ({name})", cwd=d, timeout=self.timeout)
        parts = sorted(glob.glob(prefix + ".A3.final*"))
        if not parts:
            raise AlignerFailedError(f"{self.variant} ({name}) wrote no {os.path.basename(prefix)}.A3.final file")
        links: Dict[int, List[Link]] = {}
        for part in parts:
            with open(part, encoding="utf-8", errors="replace") as f:
                links.update(parse_a3(f.read(), part))
        return links

    def _align_nonempty(self, pairs) -> Directional:
        tools = self._tools()
        ok = [k for k, (s, t) in enumerate(pairs)
              if len(s) <= self.max_length and len(t) <= self.max_length
              and max(len(s), len(t)) <= self.max_ratio * min(len(s), len(t))]
        if len(ok) < len(pairs):
            logger.warning("%s: %d of %d pairs too long (> %d words) or too unequal (ratio > %g): no links",
                           self.variant, len(pairs) - len(ok), len(pairs), self.max_length, self.max_ratio)
        src = [pairs[k][0] for k in ok]
        tgt = [pairs[k][1] for k in ok]
        fwd: List[List[Link]] = [[] for _ in pairs]
        rev: List[List[Link]] = [[] for _ in pairs]
        if not ok:
            return fwd, rev
        with tempfile.TemporaryDirectory(prefix="polyspan-giza-", dir=self.tmp_dir) as tmp:
            f_links = self._run_direction(tools, tmp, "fwd", src, tgt)
            r_links = self._run_direction(tools, tmp, "rev", tgt, src)
        for n, k in enumerate(ok):
            s_len, t_len = len(pairs[k][0]), len(pairs[k][1])
            fwd[k] = f_links.get(n + 1, [])
            rev[k] = sorted((i, j) for j, i in r_links.get(n + 1, []))
            for i, j in fwd[k] + rev[k]:
                if i >= s_len or j >= t_len:
                    raise AlignerFailedError(f"{self.variant} output for pair {k + 1} does not match its "
                                             f"lengths ({s_len}, {t_len}): link {i}-{j}")
        return fwd, rev
