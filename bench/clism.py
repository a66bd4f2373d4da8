"""Benchmark of the CLISM pipeline against the word aligner alone on the same pairs, in one run (DESIGN.md:
benchmarks print a ratio against a baseline measured in the same run).

    python bench/clism.py [--pairs 5000] [--data DIR] [--align-batch-size N] [--priors-sample N] [Beam options]

Input: the first ``--pairs`` lines of the shared WMT en-de sample (Moses-tokenised, HTML-escaped), read with
``--pretokenized``. Baseline: eflomal + grow-diag-final-and on exactly the words the pipeline aligns (every
usable pair, cleaned by the pipeline's own ``prepare_pair``). Pipeline: the whole ``python -m pipelines.clism``
run (read, clean, spaCy NER with the offline entity-ruler model built from CoNLL-2003, alignment through
``AlignPairs``, rows, Parquet, manifest) on the FnApiRunner, in this process. Target: pipeline time ≤ 1.3×
the aligner's. A language pair larger than ``--align-batch-size`` and ``--priors-sample`` takes the scaled-out
path (the sample aligned on its own, its priors then align the other pairs in batches): every pair is still
aligned once, e.g. ``--align-batch-size 2500 --priors-sample 2500`` on 5,000 pairs. The manifest's alignment
counters (pairs aligned, links from the sample run and from the batches) are printed with the figures. The
machine may be shared: the load average is printed too; CPU time is the steadier figure.
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
from bench._paths import data_root  # noqa: E402

from pipelines.align.options import PIPELINE_DEFAULTS  # noqa: E402

ALIGNMENT = PIPELINE_DEFAULTS["clism"]


def head(src: Path, dst: Path, n: int) -> str:
    with open(src, encoding="utf-8") as f:
        dst.write_text("".join(line for _, line in zip(range(n), f)), encoding="utf-8")
    return str(dst)


def usable_pairs(src: str, tgt: str) -> list[tuple[list[str], list[str]]]:
    """The words the pipeline aligns: every pair its cleaning keeps, as the pipeline cleans it."""
    from pipelines.clism.parallel_input import CorpusSpec, read_corpus
    from pipelines.clism.prepare import PrepareOptions, prepare_pair
    pairs = []
    for raw in read_corpus(CorpusSpec("en", "de", "lines", (src, tgt))):
        pair = prepare_pair(raw, PrepareOptions(pretokenized=True), lambda reason, n: None)
        if pair is not None:
            pairs.append((list(pair.source_tokens()), list(pair.target_tokens())))
    return pairs


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (eflomal runs as a child binary): on a shared
    machine this is steadier than wall time."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=5000, help="WMT pairs to use (the sample has 10,000)")
    parser.add_argument("--data", type=Path, default=data_root(),
                        help="the shared data folder (default: $POLYSPAN_DATA or ../shared/data)")
    parser.add_argument("--align-batch-size", type=int, default=ALIGNMENT.batch_size,
                        help="the pipeline's --align-batch-size")
    parser.add_argument("--priors-sample", type=int, default=ALIGNMENT.priors_sample,
                        help="the pipeline's --priors-sample")
    args, beam_args = parser.parse_known_args()
    beam_args = beam_args or ["--runner=FnApiRunner"]

    from alignment import make_aligner
    from pipelines.clism.__main__ import run
    from spacy_models import ruler_model_dir

    work = Path(tempfile.mkdtemp(prefix="polyspan-bench-clism-"))
    src = head(args.data / "parallel" / "wmt-sample.en-de.en", work / "wmt.en", args.pairs)
    tgt = head(args.data / "parallel" / "wmt-sample.en-de.de", work / "wmt.de", args.pairs)
    model = str(ruler_model_dir(args.data))
    pairs = usable_pairs(src, tgt)
    print(f"{len(pairs)} usable pairs of {args.pairs}; load average before: {os.getloadavg()[0]:.1f}")

    start, cpu = time.perf_counter(), cpu_seconds()
    make_aligner("eflomal").align(pairs, symmetrize="grow-diag-final-and")
    aligner_s, aligner_cpu = time.perf_counter() - start, cpu_seconds() - cpu

    start, cpu = time.perf_counter(), cpu_seconds()
    manifest = run(["--src", src, "--tgt", tgt, "--src-lang", "en", "--tgt-lang", "de", "--pretokenized",
                    "--ner-model", model, "--output", str(work / "out"), "--num-shards", "1",
                    "--align-batch-size", str(args.align_batch_size), "--priors-sample", str(args.priors_sample)]
                   + beam_args)
    pipeline_s, pipeline_cpu = time.perf_counter() - start, cpu_seconds() - cpu

    print(f"aligner alone (eflomal + grow-diag-final-and): {aligner_s:7.1f} s wall {aligner_cpu:7.1f} s CPU  "
          f"{len(pairs) / aligner_s:7.1f} pairs/s")
    print(f"pipeline ({manifest.row_count} rows):{' ' * max(0, 19 - len(str(manifest.row_count)))}"
          f"{pipeline_s:7.1f} s wall {pipeline_cpu:7.1f} s CPU  {len(pairs) / pipeline_s:7.1f} pairs/s")
    align = {k.split(".", 2)[2]: v for k, v in sorted(manifest.counters.items()) if k.startswith("align.")
             and k.split(".", 2)[2] in ("pairs_aligned", "sample_pairs_aligned", "model_pairs", "batches_aligned",
                                        "links_from_sample", "links_from_batches")}
    print("pipeline alignment: " + ", ".join(f"{k} {v}" for k, v in align.items()))
    print(f"pipeline / aligner: {pipeline_s / aligner_s:.2f}x wall, {pipeline_cpu / aligner_cpu:.2f}x CPU "
          f"(target <= 1.3x); load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
