"""Every aligner measured in one run: eflomal, fast_align and GIZA++ (MGIZA++ here), through the project's
adapters, against gold alignments, against their own tools called directly, and inside the two pipelines.

    .venv/bin/python bench/aligners.py [--data DIR] [--tools DIR] [--pairs 10000] [--extra-pairs 10000]
                                        [--repeats 1] [--skip-aer] [--skip-speed] [--skip-pipelines] [--json F]

A. AER (Och & Ney) of each aligner with each symmetrisation on the align_gold sets, lower-cased: enfr (447
   pairs) and roen (248 pairs) aligned alone, and enfr with the 1,000 Tatoeba fr-en pairs (tokenised with the
   project's tokeniser) as extra training text; pairs/s of each run (pairs aligned, extra text included).
B. Speed of each adapter against its tool called directly, on the first ``--pairs`` WMT en-de pairs (those GIZA
   accepts: both sides 1-100 words, ratio <= 9): eflomal's adapter vs ``eflomal.Aligner().align``; fast_align's
   vs ``fast_align -d -o -v`` both ways + ``atools -c grow-diag-final-and`` (one OpenMP thread each); GIZA's vs Moses' command sequence
   (plain2snt, mkcls x2, snt2cooc x2, mgiza x2). The direct runs start from files already written; the adapters
   start from Python lists and end with symmetrised links. Run interleaved; ratio = direct / adapter time, wall
   and CPU (target >= 0.9).
C. The pipelines on Europarl en-de (799 sentences, English gold spans, German gold tokens as the target side),
   one run per aligner: CLISM's exact-gold rate (share of [QUE] answers that are exactly a German gold entity)
   and label projection's entity F1 against the German gold, alone and with ``--extra-pairs`` WMT pairs as extra
   alignment text; projection with the WMT pairs also scaled out (a 5,000-pair sample whose model aligns the
   rest in batches of 3,000; GIZA++ trains each batch on its own).

The machine may be shared: the load average is printed; ratios come from runs interleaved in this process.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
from bench._paths import data_root, tools_bin  # noqa: E402

from alignment import HEURISTICS, make_aligner, read_parallel, score_alignments, symmetrize_all  # noqa: E402
from alignment.giza import MKCLS_CLASSES, MOSES_SCHEDULE  # noqa: E402
from alignment_fixtures import gold_set, lowercased  # noqa: E402

ALIGNERS = ("eflomal", "fast_align", "giza")
EFLOMAL_SAMPLERS = 6  # the adapter's default, so both sides of B do the same work
# Part B runs the programs on one thread, both sides: fast_align's OpenMP threads spin-wait, and on a loaded
# machine that makes a run's time depend on what else runs far more than on the program (a 2.6x spread seen).
ONE_THREAD = {"fast_align": {"threads": 1}, "giza": {"threads": 1}}


def aligner(name: str, bin_dir: Path, **options):
    return make_aligner(name, **options) if name == "eflomal" else make_aligner(name, binary=str(bin_dir), **options)


def tatoeba_en_fr(root: Path):
    """The 1,000 Tatoeba pairs, English left as in enfr, tokenised by the project's tokeniser, lower-cased."""
    from pipelines.tokenize import words
    base = root / "parallel" / "tatoeba.fra-eng"
    en = (base.parent / (base.name + ".eng")).read_text(encoding="utf-8").splitlines()
    fr = (base.parent / (base.name + ".fra")).read_text(encoding="utf-8").splitlines()
    pairs = [([w for w, _, _ in words(e, "en")], [w for w, _, _ in words(f, "fr")]) for e, f in zip(en, fr)]
    return lowercased([(s, t) for s, t in pairs if s and t])


# ---------------------------------------------------------------------------------------------------- A. AER
def measure_aer(root: Path, bin_dir: Path) -> list[dict]:
    enfr, enfr_gold = gold_set(root, "enfr", lowercase=True)
    roen, roen_gold = gold_set(root, "roen", lowercase=True)
    settings = [("enfr", enfr, enfr_gold, []), ("enfr + Tatoeba fr-en", enfr, enfr_gold, tatoeba_en_fr(root)),
                ("roen", roen, roen_gold, [])]
    rows = []
    for where, pairs, gold, extra in settings:
        for name in ALIGNERS:
            start = time.perf_counter()
            fwd, rev = aligner(name, bin_dir).align_directional(pairs + extra)
            seconds = time.perf_counter() - start
            aer = {h: score_alignments(symmetrize_all(fwd[:len(pairs)], rev[:len(pairs)], h), gold).aer
                   for h in HEURISTICS}
            rows.append({"set": where, "aligner": name, "pairs": len(pairs) + len(extra), "seconds": seconds,
                         "aer": aer})
            print(f"   {where:<22} {name:<10} {len(pairs) + len(extra):>5} pairs {seconds:6.1f} s  "
                  + "  ".join(f"{h} {a:.3f}" for h, a in aer.items()), flush=True)
    return rows


# -------------------------------------------------------------------------------------------------- B. speed
def wmt_pairs(root: Path, n: int):
    """The first ``n`` WMT en-de pairs that every aligner takes whole (GIZA's limits: 1-100 words, ratio <= 9)."""
    pairs = read_parallel(root / "parallel" / "wmt-sample.en-de.en", root / "parallel" / "wmt-sample.en-de.de",
                          allow_empty=True)[:n]
    giza = make_aligner("giza")
    return [(s, t) for s, t in pairs if s and t and giza.cannot_align(len(s), len(t)) is None]


def _run_tool(command: list[str], cwd: Path, stdout_path: Path | None = None, env=None) -> None:
    """Run one program of a direct recipe to its end (the caller times the recipe); stdout to a file or dropped."""
    with open(stdout_path, "wb") if stdout_path else open(os.devnull, "wb") as out:
        subprocess.run(command, cwd=cwd, stdout=out, stderr=subprocess.DEVNULL, check=True, env=env)


def direct_eflomal(pairs, work: Path) -> float:
    import eflomal
    (work / "e.src").write_text("".join(" ".join(s) + "\n" for s, _ in pairs), encoding="utf-8")
    (work / "e.tgt").write_text("".join(" ".join(t) + "\n" for _, t in pairs), encoding="utf-8")
    start = time.perf_counter()
    with open(work / "e.src", encoding="utf-8") as src, open(work / "e.tgt", encoding="utf-8") as tgt:
        eflomal.Aligner(n_samplers=EFLOMAL_SAMPLERS).align(src, tgt, links_filename_fwd=str(work / "e.fwd"),
                                                           links_filename_rev=str(work / "e.rev"))
    return time.perf_counter() - start


def direct_fast_align(pairs, work: Path, bin_dir: Path) -> float:
    corpus = work / "fa.src-tgt"
    corpus.write_text("".join(f"{' '.join(s)} ||| {' '.join(t)}\n" for s, t in pairs), encoding="utf-8")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    start = time.perf_counter()
    _run_tool([str(bin_dir / "fast_align"), "-i", str(corpus), "-d", "-o", "-v"], work, work / "fa.fwd", env)
    _run_tool([str(bin_dir / "fast_align"), "-i", str(corpus), "-d", "-o", "-v", "-r"], work, work / "fa.rev", env)
    _run_tool([str(bin_dir / "atools"), "-c", "grow-diag-final-and", "-i", "fa.fwd", "-j", "fa.rev"], work,
           work / "fa.gdfa")
    return time.perf_counter() - start


def direct_giza(pairs, work: Path, bin_dir: Path) -> float:
    """Moses' GIZA++ steps as a user types them (MGIZA++'s names), to the two A3.final files."""
    from alignment.external import tool_environment
    env = tool_environment(str(bin_dir / "mgiza"))
    (work / "src").write_text("".join(" ".join(s) + "\n" for s, _ in pairs), encoding="utf-8")
    (work / "tgt").write_text("".join(" ".join(t) + "\n" for _, t in pairs), encoding="utf-8")
    tool = lambda name: str(bin_dir / name)  # noqa: E731
    start = time.perf_counter()
    _run_tool([tool("plain2snt"), "src", "tgt"], work)
    for side in ("src", "tgt"):
        _run_tool([tool("mkcls"), f"-c{MKCLS_CLASSES}", "-n2", f"-p{side}", f"-V{side}.vcb.classes", "opt"], work)
    for name, s, t in (("fwd", "src", "tgt"), ("rev", "tgt", "src")):
        _run_tool([tool("snt2cooc"), f"{name}.cooc", f"{s}.vcb", f"{t}.vcb", f"{s}_{t}.snt"], work)
        _run_tool([tool("mgiza"), "-s", f"{s}.vcb", "-t", f"{t}.vcb", "-c", f"{s}_{t}.snt", "-CoocurrenceFile",
                f"{name}.cooc", "-o", name, *MOSES_SCHEDULE, "-nodumps", "1", "-onlyaldumps", "1", "-ncpus", "1"],
               work, env=env)
    return time.perf_counter() - start


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (every aligner runs a child program): on a shared
    machine the steadier figure."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def measure_speed(root: Path, bin_dir: Path, n: int, repeats: int, names=ALIGNERS) -> list[dict]:
    pairs = wmt_pairs(root, n)
    direct = {"eflomal": lambda w: direct_eflomal(pairs, w),
              "fast_align": lambda w: direct_fast_align(pairs, w, bin_dir),
              "giza": lambda w: direct_giza(pairs, w, bin_dir)}
    rows = []
    for name in names:
        direct_s, adapter_s, direct_cpu, adapter_cpu = [], [], [], []
        for _ in range(repeats):  # interleaved, so load changes hit both sides alike
            with tempfile.TemporaryDirectory(prefix="bench-aligners-") as tmp:
                cpu = cpu_seconds()
                direct_s.append(direct[name](Path(tmp)))
                direct_cpu.append(cpu_seconds() - cpu)
            start, cpu = time.perf_counter(), cpu_seconds()
            aligner(name, bin_dir, **ONE_THREAD.get(name, {})).align(pairs, "grow-diag-final-and")
            adapter_s.append(time.perf_counter() - start)
            adapter_cpu.append(cpu_seconds() - cpu)
        row = {"aligner": name, "pairs": len(pairs), "direct_s": min(direct_s), "adapter_s": min(adapter_s),
               "direct_cpu_s": min(direct_cpu), "adapter_cpu_s": min(adapter_cpu)}
        rows.append(row)
        n = len(pairs)
        print(f"   {name:<10} {n} WMT pairs: direct {row['direct_s']:7.1f} s ({n / row['direct_s']:7.1f} pairs/s, "
              f"{row['direct_cpu_s']:.0f} s CPU)  adapter {row['adapter_s']:7.1f} s ({n / row['adapter_s']:7.1f} "
              f"pairs/s, {row['adapter_cpu_s']:.0f} s CPU)  ratio {row['direct_s'] / row['adapter_s']:.3f} wall, "
              f"{row['direct_cpu_s'] / row['adapter_cpu_s']:.3f} CPU; load {os.getloadavg()[0]:.1f}", flush=True)
    return rows


# ---------------------------------------------------------------------------------------------- C. pipelines
def measure_pipelines(root: Path, bin_dir: Path, extra_pairs: int) -> list[dict]:
    from pipelines.clism.__main__ import run as run_clism
    from pipelines.project_labels.__main__ import run as run_projection
    from pipelines.project_labels.evaluate import score
    from schemas.conll import read_conll
    from test_clism_pipeline import german_gold_spans, head, read_rows

    ner, parallel = root / "ner", root / "parallel"
    work = Path(tempfile.mkdtemp(prefix="bench-aligners-pipelines-"))
    en, de_gold = ner / "en-europarl.test.conll02", ner / "de-europarl.test.conll02"
    de = work / "de.txt"
    de.write_text("".join(" ".join(s.tokens) + "\n" for s in read_conll(de_gold, tag_scheme=None)), encoding="utf-8")
    wmt = [head(parallel / f"wmt-sample.en-de.{lang}", work / f"wmt.{lang}", extra_pairs) for lang in ("en", "de")]
    gold_spans = german_gold_spans(de_gold)
    runner = ["--runner=FnApiRunner"]
    rows = []
    # Cheap runs first, every aligner in each, so a cut-short run still compares the aligners.
    for pipeline, extra, scaled in (("clism", [], False), ("project_labels", [], False), ("clism", wmt, False),
                                    ("project_labels", wmt, False), ("project_labels", wmt, True)):
        for name in ALIGNERS:
            align = ["--aligner", name] + ([] if name == "eflomal" else ["--aligner-bin", str(bin_dir)])
            out = work / f"{pipeline}-{name}-{len(extra)}-{scaled}"
            start = time.perf_counter()
            row = {"pipeline": pipeline, "aligner": name, "extra": len(extra) and extra_pairs, "scaled": scaled}
            if pipeline == "clism":
                run_clism(["--source-spans", str(en), "--tgt", str(de), "--src-lang", "en", "--tgt-lang", "de",
                           "--pretokenized", "--output", str(out), "--num-shards", "1", *align]
                          + (["--extra", "en-de", "lines", *extra] if extra else []) + runner)
                answers = [(r["line"], a["start"], a["end"]) for r in read_rows(out) for a in r["answers"]]
                row["value"] = sum((s, e) in gold_spans[line] for line, s, e in answers) / len(answers)
                row["answers"] = len(answers)
                what = f"exact gold {row['value']:.3f} ({len(answers)} answers"
            else:
                run_projection(["--source", str(en), "--src-lang", "en", "--translations", str(de), "--tgt-lang",
                                "de", "--pretokenized", "--output", str(out), *align]
                               + (["--extra-parallel", *extra] if extra else [])
                               + (["--priors-sample", "5000", "--align-batch-size", "3000"] if scaled else [])
                               + runner)
                row["value"] = score(str(out / "de"), str(de_gold)).overall.f1
                counters = json.loads((out / "de" / "_manifest.json").read_text())["counters"]
                row["batches"] = counters.get("align.en-de.batches_aligned", 0)
                row["sample"] = counters.get("align.en-de.sample_pairs_aligned", 0)
                what = f"F1 {row['value']:.3f} (sample {row['sample']}, {row['batches']} batches"
            row["seconds"] = time.perf_counter() - start
            rows.append(row)
            print(f"   {pipeline:<15} {name:<10} +{row['extra']:>6} WMT{' scaled out' if scaled else '':<11}: "
                  f"{what}, {row['seconds']:.0f} s)", flush=True)
    return rows


def bench_rows(quick: bool = False) -> list[tuple[str, str, str, str]]:
    """For ``python -m bench``: the speed ratios (part B) on 2,000 WMT pairs (``quick``: 500)."""
    rows = measure_speed(data_root(None), tools_bin(None), 500 if quick else 2000, 1)
    return [(f"{r['aligner']}, {r['pairs']} WMT en-de pairs", "adapter pairs/s", f"{r['pairs'] / r['adapter_s']:,.1f}",
             f"ratio {r['direct_s'] / r['adapter_s']:.2f} of the tool called directly (target >= 0.9)") for r in rows]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", help="shared data folder (default: $POLYSPAN_DATA or ../shared/data)")
    ap.add_argument("--tools", help="folder holding bin/ (and lib/) of fast_align and MGIZA++ (default: "
                                    "$POLYSPAN_TOOLS or ../shared/tools)")
    ap.add_argument("--pairs", type=int, default=10_000, help="WMT pairs of part B (default 10,000: all)")
    ap.add_argument("--extra-pairs", type=int, default=10_000, help="WMT pairs added in part C")
    ap.add_argument("--repeats", type=int, default=1, help="runs of each side of part B (best time kept)")
    ap.add_argument("--skip-aer", action="store_true")
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--skip-pipelines", action="store_true")
    ap.add_argument("--json", help="also write every figure here")
    args = ap.parse_args()
    root, bin_dir = data_root(args.data), tools_bin(args.tools)
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; tools {bin_dir}", flush=True)
    results = {}
    if not args.skip_aer:
        print("\nA. AER", flush=True)
        results["aer"] = measure_aer(root, bin_dir)
    if not args.skip_speed:
        print("\nB. adapter vs tool called directly", flush=True)
        results["speed"] = measure_speed(root, bin_dir, args.pairs, args.repeats)
    if not args.skip_pipelines:
        print("\nC. pipelines on Europarl en-de", flush=True)
        results["pipelines"] = measure_pipelines(root, bin_dir, args.extra_pairs)
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
