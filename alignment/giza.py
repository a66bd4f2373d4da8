"""GIZA++ / MGIZA++ (Och & Ney 2003) through their programs, with the recipe of Moses' ``train-model.perl``,
and a parser for their ``A3.final`` output.

The recipe, in a private temporary directory removed afterwards:

1. ``plain2snt src tgt``: vocabularies (``.vcb``) and the corpus as word ids (``.snt``) of both directions;
2. ``mkcls -c50 -n2``: 50 word classes for each side (the HMM and model 4 condition on them);
3. ``snt2cooc``: the co-occurrence file of each direction;
4. GIZA once per direction with Moses' model schedule (IBM 1 ×5, HMM ×5, IBM 3 ×3, IBM 4 ×3; MGIZA++ with
   ``-ncpus threads``), keeping only the final Viterbi alignments (``A3.final``);
5. each direction's ``A3.final`` parsed into links; symmetrisation is the project's (``atools -c``'s rules).

GIZA models P(target | source): a run with source S and target T links each T word to at most one S word.
Forward = run with the pair's source as S; reverse = the roles swapped, its links flipped, so both come out in
source-target order. GIZA cannot take sentences over 100 words or a length ratio over 9 (Moses' corpus
cleaning drops them first): such pairs are not sent and get no links, and ``cannot_align`` names the reason so
callers count them.

``variant``: ``auto`` (the default; what ``--aligner giza`` means) runs GIZA++ when its program is found and
MGIZA++ otherwise, since users say "GIZA++" for both; ``giza`` and ``mgiza`` insist on one.
"""
from __future__ import annotations

import glob
import os
import re
import tempfile
from typing import Dict, List, Optional, Sequence, Tuple

from .base import Aligner, Directional
from .errors import AlignerFailedError, BinaryNotFoundError, InputError
from .external import find_binary, run_command
from .pharaoh import Link

INSTALL_HINT = ("Install GIZA++ (https://github.com/moses-smt/giza-pp: make; GIZA++, plain2snt.out, "
                "snt2cooc.out, mkcls) or MGIZA++ (https://github.com/moses-smt/mgiza: mgiza, plain2snt, snt2cooc, "
                "mkcls); no Debian package exists. Put them on PATH, in $POLYSPAN_ALIGNER_BIN, or pass their "
                "directory (--aligner-bin / binary=).")

# Program names of each variant: (aligner, plain2snt, snt2cooc, mkcls). GIZA++'s own build suffixes its
# helpers with ".out"; MGIZA++'s does not (both are accepted for either).
PROGRAMS = {
    "giza": (("GIZA++", "giza++"), ("plain2snt.out", "plain2snt"), ("snt2cooc.out", "snt2cooc"), ("mkcls",)),
    "mgiza": (("mgiza",), ("plain2snt", "plain2snt.out"), ("snt2cooc", "snt2cooc.out"), ("mkcls",)),
}
VARIANTS = ("auto", *PROGRAMS)

# Moses' train-model.perl GIZA settings: iterations of IBM 1, 2 (none), HMM, 3, 4, and its smoothing.
MOSES_SCHEDULE = ("-m1", "5", "-m2", "0", "-mh", "5", "-m3", "3", "-m4", "3", "-model1dumpfrequency", "1",
                  "-model4smoothfactor", "0.4", "-nsmooth", "4", "-p0", "0.999")
MKCLS_CLASSES = 50

_HEADER = re.compile(r"#\s*Sentence pair \((\d+)\)")
# "word ({ 1 3 })": the positions (1-based) of the other side's words linked to this word.
_LINKS = re.compile(r"\(\{((?:\s+\d+)*)\s*\}\)")
# A token that would break the A3 format's "word ({ ... })" groups.
_A3_UNSAFE = re.compile(r"\(\{|\}\)")


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


def _write_lines(path: str, sentences: Sequence[Sequence[str]]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(" ".join("<a3-unsafe>" if _A3_UNSAFE.search(w) else w for w in s) + "\n" for s in sentences)


class GizaAligner(Aligner):
    """GIZA++ or MGIZA++ (``variant``: auto, giza, mgiza; see the module's docstring).

    ``binary``: the aligner program or the directory holding it and its companions (default:
    $POLYSPAN_ALIGNER_BIN, then PATH). ``threads``: MGIZA++'s ``-ncpus`` (default 1). ``options``: extra GIZA flags as a
    flat list, after Moses' schedule (e.g. ``['-m4', '0']`` to stop after model 3)."""

    name = "giza"

    def __init__(self, binary: Optional[str] = None, variant: str = "auto", threads: Optional[int] = None,
                 options: Sequence[str] = (), max_length: int = 100, max_ratio: float = 9.0,
                 tmp_dir: Optional[str] = None, timeout: Optional[float] = None):
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {', '.join(VARIANTS)}, not {variant!r}")
        if threads is not None and threads < 1:
            raise ValueError("threads must be at least 1")
        self.binary = binary
        self.variant = variant
        self.threads = threads or 1
        self.options = tuple(options)
        self.max_length = max_length
        self.max_ratio = max_ratio
        self.tmp_dir = tmp_dir
        self.timeout = timeout

    def tools(self) -> Tuple[str, Dict[str, str]]:
        """(variant found, {role: path}) for the aligner and its companions, found as the module says."""
        variants = ("giza", "mgiza") if self.variant == "auto" else (self.variant,)
        missing = []
        for variant in variants:
            names = PROGRAMS[variant]
            try:
                exe = find_binary(names[0], self.binary, f"{variant} aligner", INSTALL_HINT)
            except BinaryNotFoundError as err:
                missing.append(err)
                continue
            here = os.path.dirname(exe)
            found = {"aligner": exe}
            for role, role_names in zip(("plain2snt", "snt2cooc", "mkcls"), names[1:]):
                found[role] = find_binary(role_names, None, f"{variant} aligner ({role})", INSTALL_HINT,
                                          search_dir=here)
            return variant, found
        if len(missing) == 1:
            raise missing[0]
        tried = "; ".join(str(err).split(f". {INSTALL_HINT}")[0] for err in missing)
        raise BinaryNotFoundError(f"giza aligner: found neither GIZA++ nor MGIZA++ ({tried}). {INSTALL_HINT}")

    def cannot_align(self, n_src: int, n_tgt: int) -> Optional[str]:
        if max(n_src, n_tgt) > self.max_length:
            return "over_giza_max_length"
        if max(n_src, n_tgt) > self.max_ratio * min(n_src, n_tgt):
            return "over_giza_length_ratio"
        return None

    def _run_direction(self, variant: str, tools: Dict[str, str], tmp: str, name: str, source: str,
                       target: str) -> Dict[int, List[Link]]:
        """One GIZA run with ``source`` as GIZA's source and ``target`` as its target (file stems in ``tmp``,
        already through plain2snt and mkcls)."""
        cooc = f"{name}.cooc"
        vcb_s, vcb_t, snt = f"{source}.vcb", f"{target}.vcb", f"{source}_{target}.snt"
        if variant == "mgiza":  # snt2cooc OUT VCB1 VCB2 SNT
            run_command([tools["snt2cooc"], cooc, vcb_s, vcb_t, snt], f"{variant} (snt2cooc)", cwd=tmp,
                        timeout=self.timeout)
        else:  # snt2cooc.out VCB1 VCB2 SNT > OUT
            with open(os.path.join(tmp, cooc), "wb") as f:
                run_command([tools["snt2cooc"], vcb_s, vcb_t, snt], f"{variant} (snt2cooc)", cwd=tmp, stdout=f,
                            timeout=self.timeout)
        args = [tools["aligner"], "-s", vcb_s, "-t", vcb_t, "-c", snt, "-CoocurrenceFile", cooc, "-o", name,
                *MOSES_SCHEDULE, "-nodumps", "1", "-onlyaldumps", "1"]
        if variant == "mgiza":
            args += ["-ncpus", str(self.threads)]
        run_command(args + list(self.options), f"{variant} ({name})", cwd=tmp, timeout=self.timeout)
        parts = sorted(glob.glob(os.path.join(tmp, name + ".A3.final*")))
        if not parts:
            raise AlignerFailedError(f"{variant} ({name}) wrote no {name}.A3.final file")
        links: Dict[int, List[Link]] = {}
        for part in parts:  # MGIZA++ writes one part per thread; pair numbers are the corpus's
            with open(part, encoding="utf-8", errors="replace") as f:
                links.update(parse_a3(f.read(), part))
        return links

    def _align_nonempty(self, pairs) -> Directional:
        variant, tools = self.tools()
        ok = [k for k, (s, t) in enumerate(pairs) if self.cannot_align(len(s), len(t)) is None]
        fwd: List[List[Link]] = [[] for _ in pairs]
        rev: List[List[Link]] = [[] for _ in pairs]
        if not ok:
            return fwd, rev
        with tempfile.TemporaryDirectory(prefix="polyspan-giza-", dir=self.tmp_dir) as tmp:
            _write_lines(os.path.join(tmp, "src"), [pairs[k][0] for k in ok])
            _write_lines(os.path.join(tmp, "tgt"), [pairs[k][1] for k in ok])
            run_command([tools["plain2snt"], "src", "tgt"], f"{variant} (plain2snt)", cwd=tmp, timeout=self.timeout)
            for side in ("src", "tgt"):
                run_command([tools["mkcls"], f"-c{MKCLS_CLASSES}", "-n2", f"-p{side}", f"-V{side}.vcb.classes",
                             "opt"], f"{variant} (mkcls)", cwd=tmp, timeout=self.timeout)
            f_links = self._run_direction(variant, tools, tmp, "fwd", "src", "tgt")
            r_links = self._run_direction(variant, tools, tmp, "rev", "tgt", "src")
        for n, k in enumerate(ok):
            s_len, t_len = len(pairs[k][0]), len(pairs[k][1])
            fwd[k] = f_links.get(n + 1, [])
            rev[k] = sorted((i, j) for j, i in r_links.get(n + 1, []))
            for i, j in fwd[k] + rev[k]:
                if i >= s_len or j >= t_len:
                    raise AlignerFailedError(f"{variant} output for pair {k + 1} does not match its "
                                             f"lengths ({s_len}, {t_len}): link {i}-{j}")
        return fwd, rev
