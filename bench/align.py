"""Alignment throughput: `python -m alignment align` against eflomal's own Python API, and sharding.

    .venv/bin/python bench/align.py [--data DIR] [--shards 4] [--repeats 1]

1. Sentence pairs per second on the 10,000 WMT en-de pairs (data/parallel/wmt-sample.en-de.*): the CLI,
   run as a subprocess exactly as a user runs it (`--allow-empty`: pairs with an empty side get no links
   and are not sent to eflomal), against `eflomal.Aligner().align` given the same non-empty pairs and the
   same settings (model 3, the CLI's 6 samplers). Both include reading the input files; the CLI also
   includes Python start-up, symmetrisation and writing links. Target: ratio >= 0.9.
2. Sharding with shared priors: one pass over all pairs against N shards with priors estimated once from
   that pass (their one-off cost printed apart), each shard doing its share of the one-pass iterations:
   run in parallel on this machine (threads; the work runs in eflomal's binary, one process per shard),
   and each alone, whose slowest is the wall time with one worker per shard. The on-machine speed-up is
   bounded by the CPU count printed.
3. The AER cost of sharding on enfr (align_gold): one pass vs N shards with priors (and without).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from bench._paths import data_root  # noqa: E402

import eflomal  # noqa: E402

from alignment import (EflomalAligner, read_gold, read_joint, read_parallel, score_alignments,  # noqa: E402
                       sentence_lengths, symmetrize_all)
from alignment.eflomal_aligner import eflomal_iterations, priors_from_links  # noqa: E402

SAMPLERS = 6  # the CLI's default, so both sides of the comparison do the same work


def time_cli(src: Path, tgt: Path, out: Path) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "alignment", "align", "--src", str(src), "--tgt", str(tgt),
                    "--aligner", "eflomal", "--symmetrize", "grow-diag-final-and", "--allow-empty",
                    "--out", str(out)], cwd=REPO, check=True)
    return time.perf_counter() - start


def time_eflomal_api(src: Path, tgt: Path, tmp: Path) -> float:
    start = time.perf_counter()
    with open(src, encoding="utf-8") as f:
        src_lines = f.read().splitlines()
    with open(tgt, encoding="utf-8") as f:
        tgt_lines = f.read().splitlines()
    # The same pairs the CLI sends: those with words on both sides.
    keep = [(s + "\n", t + "\n") for s, t in zip(src_lines, tgt_lines) if s.split() and t.split()]
    eflomal.Aligner(n_samplers=SAMPLERS).align([s for s, _ in keep], [t for _, t in keep],
                                               links_filename_fwd=str(tmp / "api.fwd"),
                                               links_filename_rev=str(tmp / "api.rev"))
    return time.perf_counter() - start


def _chunks(pairs, n_shards: int):
    bounds = [len(pairs) * k // n_shards for k in range(n_shards + 1)]
    return [pairs[bounds[k]:bounds[k + 1]] for k in range(n_shards)]


def _shard_aligner(priors: bytes | None, n_total: int) -> EflomalAligner:
    # With priors, each shard does its share of the one-pass iterations (eflomal would otherwise give
    # small shards more); without priors a shard is aligned from scratch with eflomal's own count.
    return EflomalAligner(priors=priors, n_iterations=eflomal_iterations(n_total) if priors else None)


def align_shards(pairs, n_shards: int, priors: bytes | None):
    """Contiguous shards aligned in parallel (threads; each runs eflomal's binary in its own process), each
    by its own aligner as a Beam worker would."""
    chunks = _chunks(pairs, n_shards)
    start = time.perf_counter()
    with ThreadPoolExecutor(n_shards) as pool:
        results = list(pool.map(lambda c: _shard_aligner(priors, len(pairs)).align(c), chunks))
    return [links for r in results for links in r], time.perf_counter() - start


def shard_times_alone(pairs, n_shards: int, priors: bytes):
    """Each shard aligned alone: with one worker per shard, the wall time is the slowest of these."""
    times = []
    for chunk in _chunks(pairs, n_shards):
        start = time.perf_counter()
        _shard_aligner(priors, len(pairs)).align(chunk)
        times.append(time.perf_counter() - start)
    return times


def one_pass(pairs):
    start = time.perf_counter()
    fwd, rev = EflomalAligner().align_directional(pairs)
    links = symmetrize_all(fwd, rev)
    elapsed = time.perf_counter() - start
    start = time.perf_counter()
    priors = priors_from_links(pairs, fwd, rev)
    return links, elapsed, priors, time.perf_counter() - start


def subset(src: Path, tgt: Path, tmp: Path, limit: int | None) -> tuple[Path, Path]:
    """The first ``limit`` pairs as files of their own (the CLI reads files), or the files themselves."""
    if not limit:
        return src, tgt
    paths = []
    for path in (src, tgt):
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()[:limit]
        out = tmp / f"subset{path.suffix}"
        out.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        paths.append(out)
    return paths[0], paths[1]


def measure_throughput(src: Path, tgt: Path, tmp: Path, repeats: int) -> dict:
    """Part 1: pairs/s of the CLI and of eflomal's API on the same pairs (best of ``repeats`` each)."""
    n = len(read_parallel(src, tgt, allow_empty=True))
    api_times, cli_times = [], []
    for _ in range(repeats):  # interleaved, so load changes hit both sides alike
        api_times.append(time_eflomal_api(src, tgt, tmp))
        cli_times.append(time_cli(src, tgt, tmp / "cli.gdfa"))
    return {"pairs": n, "api_s": min(api_times), "cli_s": min(cli_times),
            "api_rate": n / min(api_times), "cli_rate": n / min(cli_times)}


def measure_sharding(pairs, shards: int) -> dict:
    """Part 2: one pass against ``shards`` shards with priors from it, in parallel here and each alone."""
    links_1, t_1, priors, t_priors = one_pass(pairs)
    _, t_n = align_shards(pairs, shards, priors)
    alone = shard_times_alone(pairs, shards, priors)
    return {"one_pass_s": t_1, "priors_s": t_priors, "parallel_s": t_n, "slowest_alone_s": max(alone)}


def measure_sharding_aer(root: Path, shards: int) -> dict:
    """Part 3: AER on enfr of one pass, shards with priors, shards without."""
    gold_pairs = read_joint(root / "align_gold" / "enfr.src-tgt")
    gold = read_gold(root / "align_gold" / "enfr.gold", one_based=True, lengths=sentence_lengths(gold_pairs))
    g_1, gt_1, g_priors, _ = one_pass(gold_pairs)
    g_n, gt_n = align_shards(gold_pairs, shards, g_priors)
    g_n0, gt_n0 = align_shards(gold_pairs, shards, None)
    return {"pairs": len(gold_pairs), "one_pass": score_alignments(g_1, gold).aer, "one_pass_s": gt_1,
            "sharded": score_alignments(g_n, gold).aer, "sharded_s": gt_n,
            "sharded_no_priors": score_alignments(g_n0, gold).aer, "sharded_no_priors_s": gt_n0}


def bench_rows(quick: bool = False, data: str | None = None, shards: int = 4,
               repeats: int = 1) -> list[tuple[str, str, str, str]]:
    """The figures as (where, what, value, note) rows for ``python -m bench``; ``quick``: part 1 only, on the
    first 2,000 pairs."""
    root = data_root(data)
    src, tgt = root / "parallel" / "wmt-sample.en-de.en", root / "parallel" / "wmt-sample.en-de.de"
    with tempfile.TemporaryDirectory(prefix="bench-align-") as tmp_name:
        tmp = Path(tmp_name)
        src, tgt = subset(src, tgt, tmp, 2000 if quick else None)
        t = measure_throughput(src, tgt, tmp, repeats)
        where = f"eflomal, {t['pairs']} WMT en-de pairs"
        rows = [(where, "eflomal API pairs/s", f"{t['api_rate']:,.1f}", ""),
                (where, "python -m alignment align pairs/s", f"{t['cli_rate']:,.1f}",
                 f"ratio {t['cli_rate'] / t['api_rate']:.2f} (target >= 0.9)")]
        if quick:
            return rows
        pairs = read_parallel(src, tgt, allow_empty=True)
    s = measure_sharding(pairs, shards)
    a = measure_sharding_aer(root, shards)
    rows += [(where, f"{shards} shards, slowest alone (s)", f"{s['slowest_alone_s']:.1f}",
              f"speed-up {s['one_pass_s'] / s['slowest_alone_s']:.2f}x over one pass"),
             (f"enfr gold, {a['pairs']} pairs", f"AER cost of {shards} shards with priors",
              f"{a['sharded'] - a['one_pass']:+.4f}", f"one pass {a['one_pass']:.4f}")]
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", help="shared data folder (default: $POLYSPAN_DATA or ../shared/data)")
    ap.add_argument("--shards", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=1, help="runs of each side of part 1 (best time kept)")
    args = ap.parse_args()
    root = data_root(args.data)
    src, tgt = root / "parallel" / "wmt-sample.en-de.en", root / "parallel" / "wmt-sample.en-de.de"
    pairs = read_parallel(src, tgt, allow_empty=True)
    n = len(pairs)
    n_empty = sum(1 for s, t in pairs if not s or not t)
    print(f"{n} WMT en-de pairs ({n_empty} with an empty side), {os.cpu_count()} CPUs, eflomal "
          f"{getattr(eflomal, '__version__', '2.x')}, {SAMPLERS} samplers, model 3\n", flush=True)

    with tempfile.TemporaryDirectory(prefix="bench-align-") as tmp_name:
        t = measure_throughput(src, tgt, Path(tmp_name), args.repeats)
    print("1. throughput (pairs/s, best of %d)" % args.repeats)
    print(f"   {'eflomal.Aligner().align (fwd+rev files)':<46} {t['api_rate']:8.1f}  ({t['api_s']:.1f} s)")
    print(f"   {'python -m alignment align (gdfa links file)':<46} {t['cli_rate']:8.1f}  ({t['cli_s']:.1f} s)")
    print(f"   {'ratio CLI / eflomal API (target >= 0.9)':<46} {t['cli_rate'] / t['api_rate']:8.3f}\n", flush=True)

    s = measure_sharding(pairs, args.shards)
    print(f"2. sharding, {n} WMT pairs (shards: {eflomal_iterations(n)} iterations, as the one pass)")
    print(f"   {'one pass over all pairs':<46} {s['one_pass_s']:8.1f} s")
    print(f"   {'priors from that pass (one-off, calculate)':<46} {s['priors_s']:8.1f} s")
    print(f"   {f'{args.shards} shards in parallel on this machine':<46} {s['parallel_s']:8.1f} s   speed-up "
          f"{s['one_pass_s'] / s['parallel_s']:.2f}x")
    print(f"   {'slowest shard alone (one worker per shard)':<46} {s['slowest_alone_s']:8.1f} s   speed-up "
          f"{s['one_pass_s'] / s['slowest_alone_s']:.2f}x")
    print(f"   (this machine has {os.cpu_count()} CPUs and one pass already keeps them busy with its samplers;"
          " shards pay off with more workers)\n", flush=True)

    a = measure_sharding_aer(root, args.shards)
    print(f"3. AER on enfr ({a['pairs']} pairs, grow-diag-final-and)")
    print(f"   {'one pass':<46} {a['one_pass']:8.4f}  ({a['one_pass_s']:.1f} s)")
    print(f"   {f'{args.shards} shards, priors from the one pass':<46} {a['sharded']:8.4f}  ({a['sharded_s']:.1f} s)")
    print(f"   {f'{args.shards} shards, no priors':<46} {a['sharded_no_priors']:8.4f}  "
          f"({a['sharded_no_priors_s']:.1f} s)")
    print(f"   {'AER cost of sharding with priors':<46} {a['sharded'] - a['one_pass']:+8.4f}")


if __name__ == "__main__":
    main()
