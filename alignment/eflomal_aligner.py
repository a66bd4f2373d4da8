"""eflomal (Östling & Tiedemann 2016; PyPI ``eflomal``, GPL-3.0) run in-process: the default aligner.

eflomal's Python API hands the work to its bundled C binary and only writes links to files, so each call
uses a private temporary directory that is always removed. The API ignores the binary's exit status; a
missing or short output file is therefore what we check, and turn into AlignerFailedError.

Priors (eflomal's Dirichlet priors from earlier alignments): ``estimate_priors`` aligns a large sample once
and returns the priors as bytes; any number of shards can then be aligned independently, in parallel, with
``EflomalAligner(priors=...)`` — nearly as accurate as aligning everything together, which is how a Beam
pipeline scales alignment. Priors are kept as a path or as bytes, so the aligner pickles cheaply.
"""
from __future__ import annotations

import io
import os
import tempfile
from os import PathLike
from typing import List, Optional, Sequence, Tuple, Union

from .base import Aligner, Directional, Pair, clean_tokens
from .errors import AlignerFailedError, BinaryNotFoundError, InputError
from .pharaoh import Link, parse_links

PriorsType = Union[str, PathLike, bytes, None]


def _import_eflomal():
    try:
        import eflomal
    except ImportError as err:  # pragma: no cover - eflomal is a dependency
        raise BinaryNotFoundError("the eflomal aligner needs the 'eflomal' package: pip install eflomal") from err
    return eflomal


def _read_output(path: str, pairs: Sequence[Tuple[List[str], List[str]]], direction: str) -> List[List[Link]]:
    if not os.path.exists(path):
        raise AlignerFailedError(f"eflomal wrote no {direction} links (its binary failed; run with "
                                 "quiet=False to see its messages)")
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    if len(lines) != len(pairs):
        raise AlignerFailedError(f"eflomal wrote {len(lines)} {direction} link lines for {len(pairs)} "
                                 "sentence pairs")
    return [parse_links(line, lengths=(len(s), len(t)), path=f"eflomal {direction} output", lineno=k + 1)
            for k, (line, (s, t)) in enumerate(zip(lines, pairs))]


class EflomalAligner(Aligner):
    """eflomal, model 3 (IBM1 + HMM + fertility) as eflomal's default, but 6 independent samplers instead of
    its 3: eflomal seeds from /dev/urandom, and with 3 samplers grow-diag-final-and AER on the gold sets
    varies run to run (enfr 0.173-0.180, roen 0.375-0.381: sometimes over 0.18 / 0.38); 6 samplers average
    out more noise (enfr 0.169-0.175, roen 0.371-0.375) for about twice the CPU. ``n_samplers=3`` restores
    eflomal's own default.

    ``priors``: a priors file path, or its content as bytes (from ``estimate_priors``). ``n_iterations``:
    (IBM1, HMM, fertility) iterations; by default eflomal derives them from the corpus size.
    """

    name = "eflomal"
    shares_model = True  # its priors: counts from a sample's links guide the alignment of other pairs

    def __init__(self, model: int = 3, n_iterations: Optional[Tuple[int, int, int]] = None,
                 n_samplers: int = 6, rel_iterations: float = 1.0, null_prior: float = 0.2,
                 priors: PriorsType = None, tmp_dir: Optional[str] = None, quiet: bool = True):
        if model not in (1, 2, 3):
            raise ValueError(f"eflomal model must be 1, 2 or 3, not {model!r}")
        if priors is not None and not isinstance(priors, (bytes, str, PathLike)):
            raise TypeError("priors must be a file path or the priors file's content as bytes")
        if isinstance(priors, (str, PathLike)) and not os.path.isfile(priors):
            raise InputError("priors file not found", priors)
        self.model = model
        self.n_iterations = None if n_iterations is None else tuple(n_iterations)
        self.n_samplers = n_samplers
        self.rel_iterations = rel_iterations
        self.null_prior = null_prior
        self.priors = priors
        self.tmp_dir = tmp_dir
        self.quiet = quiet

    def _priors_stream(self):
        if self.priors is None:
            return None
        if isinstance(self.priors, bytes):
            return io.StringIO(self.priors.decode("utf-8"))
        return open(self.priors, encoding="utf-8")

    def _align_nonempty(self, pairs) -> Directional:
        eflomal = _import_eflomal()
        backend = eflomal.Aligner(model=self.model, n_iterations=self.n_iterations,
                                  n_samplers=self.n_samplers, rel_iterations=self.rel_iterations,
                                  null_prior=self.null_prior)
        # eflomal reads any iterable of lines; joined tokens are whitespace-free (clean_tokens), so its
        # split() gives back exactly our word positions.
        src_lines = [" ".join(s) + "\n" for s, _ in pairs]
        tgt_lines = [" ".join(t) + "\n" for _, t in pairs]
        with tempfile.TemporaryDirectory(prefix="polyspan-eflomal-", dir=self.tmp_dir) as tmp:
            fwd_path, rev_path = os.path.join(tmp, "fwd"), os.path.join(tmp, "rev")
            priors = self._priors_stream()
            try:
                backend.align(src_lines, tgt_lines, links_filename_fwd=fwd_path, links_filename_rev=rev_path,
                              priors_input=priors, quiet=self.quiet)
            except FileNotFoundError as err:
                raise BinaryNotFoundError(f"eflomal's bundled binary is missing ({err.filename}); reinstall "
                                          "it: pip install --force-reinstall eflomal") from err
            except (ValueError, IndexError, TypeError) as err:
                # e.g. a malformed priors file: eflomal's reader raises bare ValueErrors.
                where = self.priors if not isinstance(self.priors, bytes) else "<priors bytes>"
                raise AlignerFailedError(f"eflomal failed ({err}); check the priors {where}"
                                         if self.priors is not None else f"eflomal failed: {err}") from err
            finally:
                if priors is not None:
                    priors.close()
            return _read_output(fwd_path, pairs, "forward"), _read_output(rev_path, pairs, "reverse")

    def _train_nonempty(self, pairs):
        fwd, rev = self._align_nonempty(pairs)
        return fwd, rev, priors_from_links(pairs, fwd, rev)

    def with_model(self, model: bytes, corpus_size: int) -> "EflomalAligner":
        """This aligner with ``model`` (priors bytes) and, unless set, eflomal's iteration count for
        ``corpus_size`` pairs: the batches sharing the priors then do one pass's work together."""
        iterations = self.n_iterations or eflomal_iterations(corpus_size, self.model, self.rel_iterations)
        return EflomalAligner(model=self.model, n_iterations=iterations, n_samplers=self.n_samplers,
                              rel_iterations=self.rel_iterations, null_prior=self.null_prior,
                              priors=model or None, tmp_dir=self.tmp_dir, quiet=self.quiet)


def eflomal_iterations(n_sentences: int, model: int = 3, rel_iterations: float = 1.0) -> Tuple[int, int, int]:
    """The (IBM1, HMM, fertility) iterations eflomal picks for a corpus of ``n_sentences`` pairs (its rule:
    5000 / sqrt(n) sampling iterations, a quarter for the earlier models).

    eflomal gives smaller corpora *more* iterations, so shards aligned on their own would do about
    sqrt(n_shards) times the work of one pass. With priors from the whole corpus, pass
    ``n_iterations=eflomal_iterations(total_pairs)`` to each shard's aligner instead: the shards then share
    the one-pass work."""
    iters = max(2, int(round(rel_iterations * 5000 / max(1, n_sentences) ** 0.5)))
    quarter = max(1, iters // 4)
    if model == 1:
        return iters, 0, 0
    if model == 2:
        return max(2, quarter), iters, 0
    return max(2, quarter), quarter, iters


def priors_from_links(pairs: Sequence[Pair], forward: Sequence[Sequence[Link]],
                      reverse: Sequence[Sequence[Link]]) -> bytes:
    """eflomal priors (its LEX/HMM/fertility counts file) from existing directional links, as bytes."""
    eflomal = _import_eflomal()
    src = [" ".join(clean_tokens(s)) for s, _ in pairs]
    tgt = [" ".join(clean_tokens(t)) for _, t in pairs]
    fwd = [" ".join(f"{i}-{j}" for i, j in links) for links in forward]
    rev = [" ".join(f"{i}-{j}" for i, j in links) for links in reverse]
    counts = eflomal.calculate_priors(src, tgt, fwd, rev)
    out = io.StringIO()
    eflomal.write_priors(out, *counts)
    return out.getvalue().encode("utf-8")


def estimate_priors(pairs: Sequence[Pair], aligner: Optional[EflomalAligner] = None) -> bytes:
    """Align a (large) sample once and return eflomal priors as bytes, for ``EflomalAligner(priors=...)``.
    Write them to a file with ``open(path, 'wb').write(...)`` to share them between processes."""
    aligner = aligner or EflomalAligner()
    fwd, rev = aligner.align_directional(pairs)
    return priors_from_links(pairs, fwd, rev)
