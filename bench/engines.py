"""wiki_mrc on the 4x English sample on each engine, with 1 and 2 workers (``python bench/engines.py``).

Engines: the local runner (FnApiRunner, worker processes), Prism (Beam's portable local runner, built by
``python -m pipelines.engines.prism build``; one LOOPBACK SDK worker, so 1 worker only: an EXTERNAL worker
pool was tried for 2 and Prism's workers never got their control connection from it), and Flink and Spark
through Beam's job servers when ``python -m pipelines.engines.jars fetch`` has made them (embedded clusters with
1 and 2 slots; an engine without its job server is listed as not run, with the reason).

Each run is ``python -m pipelines.wiki_mrc`` in a fresh subprocess; its CPU seconds are those of the whole
process tree (the runner, its workers, Prism's Go binary, a job server), read from the children's rusage, so
an engine's own overhead counts. Per run: CPU s, wall s, rows/s; per engine: the wall speed-up from 1 to 2
workers and the CPU and wall against the local runner's with the same workers. The rows of every run are
checked to equal the local runner's (the bench compares costs of the same output). Run it on an otherwise
idle machine: the 2-worker figures need both cores.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._paths import data_root  # noqa: E402
from bench.wiki_replicas import write_replicated  # noqa: E402
from pipelines.engines import BEAM_VERSION  # noqa: E402
from pipelines.engines.jars import JARS, cached_jar  # noqa: E402
from pipelines.engines.prism import prism_binary  # noqa: E402

EN = "wiki/enwiki-pages-articles-shortened.xml.bz2"


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def engine_flags(engine: str, workers: int) -> tuple[list[str], str | None]:
    """(Beam flags, None) of a run, or ([], why it cannot run here)."""
    if engine == "local":
        return ["--runner=FnApiRunner", f"--direct_num_workers={workers}",
                "--direct_running_mode=multi_processing"], None
    if engine == "prism":
        binary = prism_binary()
        if binary is None:
            return [], "no Prism built (python -m pipelines.engines.prism build)"
        if workers > 1:
            return [], "Prism runs one LOOPBACK SDK worker"
        return ["--runner=PrismRunner", f"--prism_location={binary}", "--environment_type=LOOPBACK"], None
    jar = cached_jar(engine)
    if jar is None:
        return [], (f"no job server for Beam {BEAM_VERSION} (`python -m pipelines.engines.jars fetch` says why; "
                    f"{JARS[engine].published_job_server} is not served)")
    if shutil.which("java") is None:
        return [], "no java"
    if engine == "flink":
        return ["--runner=FlinkRunner", "--flink_master=[local]", f"--flink_job_server_jar={jar}",
                "--flink_version=1.19", "--environment_type=LOOPBACK", f"--parallelism={workers}"], None
    return ["--runner=SparkRunner", f"--spark_master_url=local[{workers}]", f"--spark_job_server_jar={jar}",
            "--environment_type=LOOPBACK"], None


def run_once(dump: str, out: str, flags: list[str]) -> dict:
    command = [sys.executable, "-m", "pipelines.wiki_mrc", "--input", dump, "--lang", "en", "--min-mentions", "3",
               "--num-shards", "2", "--output", out, *flags]
    cpu, start = _children_cpu(), time.monotonic()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    wall, cpu = time.monotonic() - start, _children_cpu() - cpu
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)}\n{done.stderr[-3000:]}")
    from schemas import read_manifest
    manifest = read_manifest(out)
    return {"wall_s": wall, "cpu_s": cpu, "rows": manifest.row_count, "rows_per_s": manifest.row_count / wall,
            "dropped": manifest.dropped, "counters": manifest.counters}


def _rows(directory: str) -> list[str]:
    from schemas import open_dataset
    return sorted(json.dumps(r, sort_keys=True, default=str) for r in open_dataset(directory, kind="mrc").iter_rows())


def measure(engines: list[str], copies: int, work: str) -> dict:
    dump, _, pages = write_replicated(str(data_root() / EN), os.path.join(work, "enwiki-multistream.xml.bz2"),
                                      copies)
    results: dict = {"copies": copies, "pages": pages, "runs": {}, "not_run": {}}
    reference = None
    for engine in engines:
        for workers in (1, 2):
            flags, why = engine_flags(engine, workers)
            if why:
                results["not_run"][f"{engine}/{workers}"] = why
                break
            out = os.path.join(work, f"{engine}-{workers}")
            run = run_once(dump, out, flags)
            rows = _rows(out)
            if reference is None:
                reference = rows
            run["same_rows_as_first_run"] = rows == reference
            first = results["runs"].get(next(iter(results["runs"]), ""), run)
            run["same_counts_as_first_run"] = (run["dropped"], run["counters"]) == (first["dropped"],
                                                                                     first["counters"])
            results["runs"][f"{engine}/{workers}"] = run
            print(f"{engine} {workers} worker(s): {run['wall_s']:.1f} s wall, {run['cpu_s']:.1f} s CPU, "
                  f"{run['rows']} rows, same rows: {run['same_rows_as_first_run']}", file=sys.stderr)
    return results


def table(results: dict) -> list[str]:
    runs = results["runs"]
    lines = ["| engine | workers | CPU s | wall s | rows/s | speed-up 1→2 (wall) | CPU vs local | wall vs local |",
             "|---|---|---|---|---|---|---|---|"]
    for key, run in runs.items():
        engine, workers = key.split("/")
        one = runs.get(f"{engine}/1")
        local = runs.get(f"local/{workers}")
        speedup = f"{one['wall_s'] / run['wall_s']:.2f}x" if workers == "2" and one else ""
        cpu_ratio = f"{run['cpu_s'] / local['cpu_s']:.2f}x" if local else ""
        wall_ratio = f"{run['wall_s'] / local['wall_s']:.2f}x" if local else ""
        lines.append(f"| {engine} | {workers} | {run['cpu_s']:.1f} | {run['wall_s']:.1f} | {run['rows_per_s']:.1f} "
                     f"| {speedup} | {cpu_ratio} | {wall_ratio} |")
    for key, why in results["not_run"].items():
        engine, workers = key.split("/")
        lines.append(f"| {engine} | {workers} | not run: {why} | | | | | |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engines", default="local,prism,flink,spark")
    parser.add_argument("--copies", type=int, default=4, help="copies of the English excerpt (default 4)")
    parser.add_argument("--json", default=None, help="write the figures here too")
    args = parser.parse_args(argv)
    print(f"load before: {os.getloadavg()}", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="bench-engines-") as work:
        results = measure(args.engines.split(","), args.copies, work)
    results["load_after"] = os.getloadavg()
    print("\n".join(table(results)))
    print(f"({results['copies']}x sample: {results['pages']} pages; load average after: "
          f"{results['load_after'][0]:.2f})")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    same = all(run["same_rows_as_first_run"] and run["same_counts_as_first_run"] for run in results["runs"].values())
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
