"""The wiki_mrc pipeline at 1×, 10×, 50× … its input, and what a full dump would cost, extrapolated
(``python bench/wiki_mrc.py --scale 1,10,50``).

Each scale is the English excerpt replicated (``wiki_replicas.py``: every copy a wiki of its own, its links and
redirects within it), run once by the local runner with one worker process, so that the runner (which holds
every shuffle in memory; on Dataflow that is the shuffle service) and the worker (what a Dataflow worker
holds) have peaks of their own. Per scale: wall and CPU seconds, the peak memory of the runner, the worker and
the page-parser processes, the bytes passed between stages (what a distributed runner shuffles), rows and the
bytes of the Parquet output.

Linearity is judged on the time each added copy costs between two scales (start-up is paid once per run, so
``t(50) / t(1)`` says more about start-up than about scale); memory on the worker's peak at the largest scale
against the smallest.

The extrapolation takes the rates between the two largest scales (per added article: CPU seconds, shuffle
bytes, rows, output bytes) and multiplies them by the published article counts of the Wikipedias.
"""
from __future__ import annotations

import os
import shutil
import sys
from typing import Callable, Dict, List, Sequence

from bench.wiki_replicas import Replicator, write_replicated

# Articles (main-namespace content pages) of the 24 Wikipedias of pipelines/tokenize/languages.py, rounded to
# two significant figures. English: the issue's 6.8M. The others: approximately as meta.wikimedia.org's "List
# of Wikipedias" (https://meta.wikimedia.org/wiki/List_of_Wikipedias) showed them in 2025, from memory of that
# table (this machine has no network to fetch it): approximate, to be checked against the live list before
# anyone budgets from them.
ARTICLES: Dict[str, int] = {
    "en": 6_800_000, "de": 3_000_000, "fr": 2_700_000, "sv": 2_600_000, "nl": 2_200_000, "ru": 2_000_000,
    "es": 2_000_000, "it": 1_900_000, "pl": 1_600_000, "ja": 1_400_000, "zh": 1_500_000, "vi": 1_300_000,
    "ar": 1_300_000, "pt": 1_100_000, "id": 730_000, "ko": 700_000, "tr": 630_000, "fi": 590_000,
    "el": 250_000, "th": 170_000, "hi": 170_000, "bn": 160_000, "te": 110_000, "sw": 97_000,
}
ARTICLES_SOURCE = ("meta.wikimedia.org/wiki/List_of_Wikipedias, approximate 2025 counts (not fetched here); "
                   "English 6.8M articles")
# enwiki's pages-articles dump, bz2: "about 22.14 GB" on 2 July 2023 (en.wikipedia.org/wiki/Wikipedia:Size_of_Wikipedia;
# approximate, and growing). The excerpt's articles are the dump's first, long ones (54 KB of wikitext on
# average), so scaling by bytes instead of articles bounds the cost from the other side.
ENWIKI_DUMP_BYTES = 22.14e9
# At most this many rows per kept entity (MAX_ANSWERABLE + MAX_UNANSWERABLE of pipelines/wiki_mrc/examples.py):
# in the excerpt most link targets lie outside it, so few articles become entities and rows per article are
# far below what a whole wiki, where nearly every article is linked, gives.
MAX_ROWS_PER_ENTITY = 20

# The scale bench runs one worker process (see the module docstring).
RunPipeline = Callable[[str, str], dict]  # (dump path, output dir) -> the child's JSON


def directory_bytes(path: str) -> int:
    return sum(os.path.getsize(os.path.join(folder, name)) for folder, _, names in os.walk(path) for name in names)


def measure_scales(dump: str, lang: str, scales: Sequence[int], work_dir: str, run_pipeline: RunPipeline,
                   passthrough: Callable[[float], dict]) -> dict:
    """Each scale's run (its dump and output removed after it, so that 50× leaves nothing behind), and Beam's
    own worker on a pass-through pipeline carrying as much as the smallest and largest scale's largest stage."""
    replicator = Replicator.of_dump(dump, lang)
    runs = []
    for copies in scales:
        print(f"scale {copies}x: writing the replicated dump ...", file=sys.stderr, flush=True)
        path, index, pages = write_replicated(dump, os.path.join(work_dir, f"x{copies}-multistream.xml.bz2"),
                                              copies, lang, replicator=replicator)
        out = os.path.join(work_dir, f"out-x{copies}")
        print(f"scale {copies}x: {pages} pages, {os.path.getsize(path) / 1e6:.0f} MB of bz2; running the "
              "pipeline (1 worker process) ...", file=sys.stderr, flush=True)
        run = run_pipeline(path, out)
        run.update(copies=copies, pages=pages, dump_bytes=os.path.getsize(path), output_bytes=directory_bytes(out))
        print(f"scale {copies}x: {run['seconds']:.0f} s, worker peak {run['worker_mib']:.0f} MiB",
              file=sys.stderr, flush=True)
        runs.append(run)
        shutil.rmtree(out, ignore_errors=True)
        for leftover in (path, index):
            os.remove(leftover)
    smallest, largest = runs[0], runs[-1]
    print("Beam's own worker on pass-through pipelines of the same stage sizes ...", file=sys.stderr, flush=True)
    return {"runs": runs, "beam_small": passthrough(smallest["largest_stage_mb"]),
            "beam_large": passthrough(largest["largest_stage_mb"])}


def _articles(run: dict) -> int:
    return run["counters"].get("articles_read", 0)


def per_article(small: dict | None, large: dict, key: str) -> float:
    """``key`` per article the larger run added to the smaller (start-up and other fixed costs cancel out), or
    per article of ``large`` when there is no smaller run (fixed costs included)."""
    before, articles_before = (small[key], _articles(small)) if small else (0, 0)
    added = _articles(large) - articles_before
    return (large[key] - before) / added if added else float("nan")


def scale_table(result: dict) -> List[str]:
    """The per-scale figures as Markdown table lines."""
    lines = ["| scale | articles | wall s | CPU s | s per added copy | runner MiB | worker MiB | parser MiB "
             "| between stages MB | rows | output MB |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    previous = None
    for run in result["runs"]:
        per_copy = "–" if previous is None else \
            f"{(run['seconds'] - previous['seconds']) / (run['copies'] - previous['copies']):.2f}"
        lines.append(f"| {run['copies']}× | {_articles(run):,} | {run['seconds']:.1f} | {run['cpu_s']:.1f} | "
                     f"{per_copy} | {run['runner_mib']:.0f} | {run['worker_mib']:.0f} | {run['parser_mib']:.0f} | "
                     f"{run['stage_input_mb']:.1f} | {run['rows']:,} | {run['output_bytes'] / 1e6:.1f} |")
        previous = run
    return lines


def verdicts(result: dict) -> List[str]:
    """Linearity (time per added copy, each step against the first; goal ±15%) and the worker's memory growth
    from the smallest to the largest scale (goal ≤ +30%), with Beam's own worker growth at the same stage sizes."""
    runs = result["runs"]
    lines = []
    if len(runs) >= 3:
        steps = [(b["seconds"] - a["seconds"]) / (b["copies"] - a["copies"]) for a, b in zip(runs, runs[1:])]
        cpu_steps = [(b["cpu_s"] - a["cpu_s"]) / (b["copies"] - a["copies"]) for a, b in zip(runs, runs[1:])]
        spans = ", ".join(f"{a['copies']}→{b['copies']}×" for a, b in zip(runs, runs[1:]))
        lines.append(f"time per added copy ({spans}): " + ", ".join(f"{s:.2f}" for s in steps) + " s wall, "
                     + ", ".join(f"{s:.2f}" for s in cpu_steps) + " s CPU: last step "
                     f"{100 * (steps[-1] / steps[0] - 1):+.0f}% wall, {100 * (cpu_steps[-1] / cpu_steps[0] - 1):+.0f}% "
                     "CPU against the first (goal within ±15%)")
    small, large = runs[0], runs[-1]
    ratio = large["seconds"] / small["seconds"]
    lines.append(f"end to end {small['copies']}→{large['copies']}×: {ratio:.1f}× the time for "
                 f"{large['copies'] / small['copies']:.0f}× the input (start-up paid once)")
    for name in ("worker", "runner", "parser"):
        a, b = small[f"{name}_mib"], large[f"{name}_mib"]
        lines.append(f"{name} peak {a:.0f} → {b:.0f} MiB ({100 * (b / a - 1):+.0f}%"
                     + (", goal ≤ +30%)" if name == "worker" else ")"))
    beam_a, beam_b = result["beam_small"]["worker_mib"], result["beam_large"]["worker_mib"]
    lines.append(f"Beam's own worker, pass-through stages of {small['largest_stage_mb']:.1f} → "
                 f"{large['largest_stage_mb']:.1f} MB (the local runner sends a stage to its worker as one bundle): "
                 f"{beam_a:.0f} → {beam_b:.0f} MiB (+{beam_b - beam_a:.0f} MiB of the worker's "
                 f"+{large['worker_mib'] - small['worker_mib']:.0f})")
    return lines


def rates(result: dict) -> dict:
    """Per-article rates between the two largest scales (of the one run, start-up included, if only one)."""
    runs = result["runs"]
    small, large = (runs[-2] if len(runs) > 1 else None), runs[-1]
    rate = {key: per_article(small, large, field) for key, field in
            (("cpu_s", "cpu_s"), ("seconds", "seconds"), ("rows", "rows"), ("output_bytes", "output_bytes"),
             ("dump_bytes", "dump_bytes"),
             # GroupByKeys only where the run recorded them; else every stage input (an upper bound)
             ("shuffle_mb", "shuffle_mb" if "shuffle_mb" in large else "stage_input_mb"))}
    rate["shuffle_bytes"] = rate.pop("shuffle_mb") * 1e6
    rate["shuffle_what"] = ("shuffled by the GroupByKeys" if "shuffle_mb" in large else
                            "passed between stages (every stage input of the local runner: an upper bound)")
    rate["between"] = f"{small['copies']}→{large['copies']}×" if small else f"{large['copies']}×, start-up included"
    return rate


def extrapolation(result: dict, worker_margin: float = 2.0) -> List[str]:
    """What the Wikipedias would cost at this machine's per-article rates, as Markdown lines: by article count
    (the issue's figure), and for enwiki also by dump size; rows and output as measured (a lower bound, see
    MAX_ROWS_PER_ENTITY) and at most."""
    r = rates(result)
    runs = result["runs"]
    bytes_per_row = r["output_bytes"] / r["rows"] if r["rows"] else float("nan")
    worker = runs[0]["worker_mib"] + runs[0]["parser_mib"]
    lines = [f"Rates per added article ({r['between']}, this machine, CPU time of all processes): "
             f"{1 / r['cpu_s']:.2f} articles/s per core ({1 / r['seconds']:.2f} per wall second); "
             f"{r['shuffle_bytes'] / 1e3:.0f} kB {r['shuffle_what']} per article; {r['rows']:.2f} rows and "
             f"{r['output_bytes'] / 1e3:.2f} kB of Parquet per article ({bytes_per_row:,.0f} bytes per row); "
             f"{r['dump_bytes'] / 1e3:.1f} kB of bz2 dump per article.",
             "",
             "| wiki | articles | core-hours | shuffle volume | rows (measured rate; at most) "
             "| output, Parquet (measured rate; at most) |",
             "|---|---|---|---|---|---|"]

    def row(name: str, articles: float, label: str = "") -> str:
        most = articles * MAX_ROWS_PER_ENTITY
        return (f"| {name} | {label or f'{articles / 1e6:.2f}M'} | {articles * r['cpu_s'] / 3600:,.0f} | "
                f"{articles * r['shuffle_bytes'] / 1e12:.2f} TB | {articles * r['rows'] / 1e6:,.1f}M; "
                f"{most / 1e6:,.0f}M | {articles * r['output_bytes'] / 1e9:,.1f} GB; "
                f"{most * bytes_per_row / 1e9:,.0f} GB |")

    lines.append(row("enwiki, by article count", ARTICLES["en"]))
    by_size = ENWIKI_DUMP_BYTES / r["dump_bytes"]  # the excerpt's articles (with their redirects) that fill it
    lines.append(row("enwiki, by dump size (22 GB bz2)", by_size, f"{by_size / 1e6:.2f}M of the excerpt's size"))
    lines.append(row(f"all {len(ARTICLES)} languages, by article count", sum(ARTICLES.values())))
    lines += ["",
              f"Article counts: {ARTICLES_SOURCE}. Dump size: Wikipedia:Size of Wikipedia (July 2023).",
              f"Worker memory: one SDK process per vCPU holds a worker ({runs[0]['worker_mib']:.0f} MiB here at "
              f"{runs[0]['copies']}×, whose bundles are already larger than Dataflow's) and its page parser "
              f"({runs[0]['parser_mib']:.0f} MiB): {worker:.0f} MiB; with {worker_margin:.0f}× headroom "
              f"{worker * worker_margin / 1024:.1f} GiB per vCPU, before the transient of a page near "
              "--max-page-chars."]
    return lines


def parse_scales(text: str) -> List[int]:
    try:
        scales = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise SystemExit(f"--scale takes copies separated by commas (e.g. 1,10,50), not {text!r}") from None
    if not scales or scales[0] < 1:
        raise SystemExit(f"--scale: every scale must be at least 1 (got {text!r})")
    return scales
