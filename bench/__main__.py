"""Every benchmark under bench/ in one command, one table.

    python -m bench [--quick] [--only wiki_mrc align ...]

Runs each ``bench/<name>.py`` it finds (wiki_mrc, clism, align, train, and any other) and prints one table of
(where, what, value, note): pipeline throughput per core, alignment throughput, trainer tokens/s and, on a
CUDA machine, GPU tokens/s and model FLOPs utilisation. A benchmark joins the table by defining

    def bench_rows(quick: bool = False) -> list[tuple[str, str, str, str]]

(``quick``: a smaller run for a first look); one without it is run as a script and its output printed after the
table. A benchmark that fails (missing data, missing GPU library) gets a row saying why; the others still run.
Each script keeps working on its own (``python bench/align.py`` prints its detailed report).
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
# data side first, trainer last; pretrain_effect (pipeline, pretraining and 18 fine-tuning runs: ~90 min) and the
# papers' cross-lingual claims on multilingual-e5-small (xl_*, each up to 90 min) at the end
ORDER = ["wiki_mrc", "clism", "projection_gold", "align", "train", "pretrain_effect", "xl_projection", "xl_gem",
         "xl_mpmr"]
# Modules of bench/ that are not benchmarks of their own: wiki_mrc.py's helpers, and e5_checkpoint (builds the
# multilingual-e5-small checkpoint folder a run reads: `python bench/e5_checkpoint.py --out DIR`).
HELPERS = {"wiki_replicas", "wiki_scale", "wiki_profile", "pmr_chain", "e5_checkpoint"}
Row = tuple[str, str, str, str]


def discover() -> list[str]:
    names = [p.stem for p in BENCH_DIR.glob("*.py") if not p.stem.startswith("_") and p.stem not in HELPERS]
    return sorted(names, key=lambda n: (ORDER.index(n) if n in ORDER else len(ORDER), n))


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH_DIR / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    # Registered before it runs: dataclasses (and pickling) look their module up in sys.modules.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def run_one(name: str, quick: bool) -> tuple[list[Row], str]:
    """(rows, script output): rows from ``bench_rows``, or the output of the script run on its own."""
    try:
        module = load(name)
    except Exception as err:  # e.g. torch missing on a pipelines-only machine
        return [(name, "not run", "-", f"import failed: {type(err).__name__}: {err}")], ""
    if hasattr(module, "bench_rows"):
        start = time.perf_counter()
        try:
            rows = list(module.bench_rows(quick=quick))
        except SystemExit as err:
            return [(name, "not run", "-", str(err))], ""
        except Exception as err:
            traceback.print_exc(file=sys.stderr)
            return [(name, "failed", "-", f"{type(err).__name__}: {err}".splitlines()[0][:200])], ""
        return rows + [(name, "benchmark wall time (s)", f"{time.perf_counter() - start:.0f}", "")], ""
    done = subprocess.run([sys.executable, str(BENCH_DIR / f"{name}.py")], cwd=ROOT, capture_output=True,
                          text=True)
    status = "ran as a script" if done.returncode == 0 else f"script failed (exit {done.returncode})"
    output = done.stdout if done.returncode == 0 else done.stdout + done.stderr[-2000:]
    return [(name, status, "-", "output below the table; define bench_rows(quick) to join it")], output


def machine() -> str:
    gpu = "no CUDA device"
    try:
        import torch
        if torch.cuda.is_available():
            gpu = f"{torch.cuda.device_count()} x {torch.cuda.get_device_name(0)}"
    except ImportError:
        gpu = "torch not installed"
    return f"{os.cpu_count()} CPU cores, {gpu}, Python {sys.version.split()[0]}"


def format_table(rows: list[Row]) -> str:
    header: Row = ("where", "what", "value", "note")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(header, widths)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs: a first look in a few minutes")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these benchmarks")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    names = discover()
    if args.only:
        unknown = sorted(set(args.only) - set(names))
        if unknown:
            parser.error(f"no benchmark {', '.join(unknown)} (have: {', '.join(names)})")
        names = [n for n in names if n in args.only]
    rows: list[Row] = []
    outputs = []
    for name in names:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        new_rows, output = run_one(name, args.quick)
        rows += new_rows
        if output:
            outputs.append((name, output))
    print(f"\npolyspan benchmarks{' (quick)' if args.quick else ''}: {machine()}\n")
    print(format_table(rows))
    for name, output in outputs:
        print(f"\n--- {name} ---\n{output.rstrip()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
