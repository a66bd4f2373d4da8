"""Benchmark of the Wikipedia MRC pipeline against a bare loop, in one run (DESIGN.md: benchmarks print a ratio
against a baseline measured in the same run).

    python bench/wiki_mrc.py [--dump PATH] [--lang en] [--repeat 4] [--runs 1]
    python bench/wiki_mrc.py --scale 1,10,50     # the scale bench and its extrapolation (bench/wiki_scale.py)

``--runs N`` runs every configuration N times, interleaved, and keeps the fastest time and the highest memory
peak: on a shared machine the steady-state speed-up (a difference of two timings) needs it.

Works on the English sample (the shared enwiki excerpt) re-packed as a multistream dump, and on the sample
replicated 4x (``--repeat``; ``bench/wiki_replicas.py``: every copy a wiki of its own, its links and redirects
within it), re-packed the same way. Prints:
- the PMR chain users run instead (``bench/pmr_chain.py``: ``wikiextractor --no-templates -l``, then the same
  word tokeniser) on the same dumps, in CPU seconds of all its processes against the in-process pipeline's, on
  the sample and per added copy (target <= 1.3), and where each side's time goes (``bench/wiki_profile.py``:
  read, parse, tokenise, examples, packing, write, Beam), each profiled in one process;
- wikitext MB/s per core of a bare loop over the same pages (read + mwparserfromhell parse + tokenise) and of
  the pipeline on one worker (FnApiRunner, in process), and their ratio (target <= 1.3);
- the speed-up with 2 worker processes (target >= 1.6) on the sample and on the 4x sample, each against the
  in-process run and against 1 worker process (the same runner mode, so only the worker count differs), with
  the CPU seconds every process of the run used: on a machine with C cores a run that needs S CPU seconds
  cannot finish in less than S / C seconds, which bounds the speed-up this machine can show; and Beam's own
  ceiling on this machine: the same speed-up for a pipeline that only burns as much CPU as this one needs,
  split perfectly over as many work units (what any pipeline of this size could show here);
- the steady-state speed-up: the same ratios over the time the larger input adds to the sample's run, i.e.
  seconds per added copy of the sample. Start-up (the runner's and each worker's imports, spaCy, the page
  parser) is paid once per run whatever the input, so it cancels out: what remains is the rate at which a
  long run processes pages, the figure that matters for a dump of many GB;
- peak memory (max RSS) on the sample and on the 4x sample (target: < 20% growth): of the in-process run, and
  of a run with 1 worker process, split into the runner process (where Beam's local runner keeps every
  PCollection in memory; on Dataflow, Flink or Spark that is the shuffle service's disk) and the worker
  process (what a Dataflow worker holds). As the worker's baseline: the peak of a worker that runs a
  pass-through pipeline (random text → GroupByKey → GroupByKey) whose stages carry as many bytes as the
  pipeline's largest stage did, which is how much a local worker grows with its input whatever the code.
- the stage inputs the runner sent to a worker at 4x, per transform, and what of them a distributed runner
  would shuffle (the GroupByKeys).
Each pipeline run is a fresh subprocess, so its start-up, peak memory and CPU time are its own.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from bench import pmr_chain, wiki_scale  # noqa: E402  (needs ROOT on the path)
from bench.wiki_replicas import write_replicated  # noqa: E402
from bench._paths import data_root  # noqa: E402
DEFAULT_DUMP = str(data_root() / "wiki" / "enwiki-pages-articles-shortened.xml.bz2")


def wikitext_mb(path: str) -> float:
    from pipelines.wiki.dump import DumpFault, iter_unit, list_units
    total = 0
    for unit in list_units(path):
        for page in iter_unit(unit):
            if not isinstance(page, DumpFault) and page.namespace == 0 and not page.is_redirect:
                total += len(page.text.encode("utf-8"))
    return total / 1e6


def bare_loop(path: str, lang: str) -> float:
    """Seconds for read + parse + tokenise of every article, in this process."""
    from pipelines.tokenize import words
    from pipelines.wiki.dump import DumpFault, iter_unit, list_units, read_siteinfo
    from pipelines.wiki.parser_process import WikiTextParser
    from pipelines.wiki.titles import NamespaceTable
    words("warm up", lang)
    parser = WikiTextParser(lang, NamespaceTable.from_siteinfo(read_siteinfo(path), lang))
    start = time.perf_counter()
    for unit in list_units(path):
        for page in iter_unit(unit):
            if isinstance(page, DumpFault) or page.namespace != 0 or page.is_redirect:
                continue
            words(parser.parse(page.text).text, lang)
    return time.perf_counter() - start


WORKERS_1 = ("--direct_num_workers=1", "--direct_running_mode=multi_processing")
WORKERS_2 = ("--direct_num_workers=2", "--direct_running_mode=multi_processing")


def run_child(*args: str) -> dict:
    """This script with ``args`` in a fresh subprocess (its start-up, peaks and CPU time its own): the JSON it
    printed last."""
    result = subprocess.run([sys.executable, os.path.abspath(__file__), *args], capture_output=True, text=True,
                            cwd=ROOT)
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-3000:])
    return json.loads(result.stdout.strip().splitlines()[-1])


def pipeline(path: str, lang: str, out: str, *extra: str) -> dict:
    return run_child("--child", "--input", path, "--lang", lang, "--output", out, "--runner", "FnApiRunner",
                     "--num-shards", "1", *extra)


def high_water_mib(pid: int | str = "self") -> float:
    """A process's own peak RSS (VmHWM). Not ``getrusage``'s ru_maxrss: Linux carries that over fork and exec,
    so a process started by a big one (this benchmark, after its bare loop) would report its parent's size."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return 0.0


class DescendantPeaks(threading.Thread):
    """Polls the peak RSS of every descendant process until stopped. VmHWM only grows, so a poll shortly before
    a process exits has its true peak; every 50 ms is close enough for processes that live seconds."""

    def __init__(self):
        super().__init__(daemon=True)
        self.peaks: dict[int, tuple[str, float]] = {}
        self.stopped = threading.Event()

    @staticmethod
    def children(pid: int) -> list[int]:
        found = []
        for task in glob.glob(f"/proc/{pid}/task/*/children"):
            try:
                with open(task) as listing:
                    found += [int(p) for p in listing.read().split()]
            except OSError:
                pass
        return found

    def run(self) -> None:
        while not self.stopped.wait(0.05):
            stack = self.children(os.getpid())
            while stack:
                pid = stack.pop()
                stack += self.children(pid)
                peak = high_water_mib(pid)
                if peak:
                    kind = self.peaks.get(pid, ("", 0))[0] or self.kind(pid)
                    self.peaks[pid] = (kind, max(peak, self.peaks.get(pid, ("", 0))[1]))

    @staticmethod
    def kind(pid: int) -> str:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                text = cmdline.read().decode(errors="replace")
        except OSError:
            return ""
        return "worker" if "sdk_worker_main" in text else "parser" if "_serve" in text else "other"

    def largest(self, kind: str) -> float:
        return max((peak for k, peak in self.peaks.values() if k == kind), default=0.0)


def record_stage_inputs() -> tuple[list[int], dict[str, int]]:
    """Bytes the local runner sends to a worker per bundle, in a list that fills as the pipeline runs, and the
    same summed per reading transform (what each shuffle carries); both empty if this Beam version has no such
    method."""
    from apache_beam.runners.portability.fn_api_runner import fn_runner
    sizes: list[int] = []
    by_transform: dict[str, int] = {}
    send = getattr(fn_runner.BundleManager, "_send_input_to_worker", None)
    if send is None:
        return sizes, by_transform

    def counting(self, bundle_id, transform_id, byte_streams):
        streams = list(byte_streams or [])
        sizes.append(sum(len(chunk) for chunk in streams))
        by_transform[transform_id] = by_transform.get(transform_id, 0) + sizes[-1]
        return send(self, bundle_id, transform_id, streams)

    fn_runner.BundleManager._send_input_to_worker = counting
    return sizes, by_transform


def shuffled_bytes(by_transform: dict[str, int]) -> int:
    """What a distributed runner would shuffle of the stage inputs: the GroupByKeys' outputs. Not the Flatten
    in front of each CoGroupByKey's GroupByKey (the local runner materialises it; Dataflow fuses it), not side
    inputs, and not the Parquet write's GroupByKey, which only a fixed ``--num-shards`` (the bench's 1) adds."""
    return sum(size for transform, size in by_transform.items()
               if transform.endswith(("GroupByKey/Read", "/Group/Read")) and not transform.startswith("Write/"))


def child(argv) -> None:
    """Run the pipeline in this process; print its wall time, the peak memory of this process (the runner, and
    with the in-process runner the worker too) and of its largest worker process and page-parser process, the
    CPU seconds of this process and all its children, and the largest stage input sent to a worker."""
    import logging
    logging.disable(logging.WARNING)
    from pipelines.wiki_mrc.__main__ import run
    stage_inputs, by_transform = record_stage_inputs()
    peaks = DescendantPeaks()
    peaks.start()
    start = time.perf_counter()
    manifest = run(argv)
    seconds = time.perf_counter() - start
    peaks.stopped.set()
    peaks.join()
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    runner, worker, parser = high_water_mib(), peaks.largest("worker"), peaks.largest("parser")
    print(json.dumps({"seconds": seconds, "rows": manifest.row_count, "runner_mib": runner,
                      "worker_mib": worker, "parser_mib": parser, "peak_mib": max(runner, worker),
                      "cpu_s": me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime,
                      "largest_stage_mb": max(stage_inputs, default=0) / 1e6,
                      # every bundle's input the runner sent to a worker: what a distributed runner shuffles
                      # (GroupByKey and Reshuffle outputs, side inputs), encoded
                      "stage_input_mb": sum(stage_inputs) / 1e6,
                      "stage_input_mb_by_transform": {t: b / 1e6 for t, b in sorted(
                          by_transform.items(), key=lambda kv: -kv[1])[:12]},
                      "shuffle_mb": shuffled_bytes(by_transform) / 1e6,
                      "counters": manifest.counters}))


def child_passthrough(megabytes: float) -> None:
    """Beam alone: one worker process runs random text (16,500 keys, ``megabytes`` in all) through two
    GroupByKeys; print the worker's peak memory."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions
    keys = 16_500  # the English sample's number of link targets
    chars = max(1, int(megabytes * 1e6 / keys))
    peaks = DescendantPeaks()
    peaks.start()
    options = PipelineOptions(["--runner=FnApiRunner", *WORKERS_1])
    with beam.Pipeline(options=options) as p:
        (p | beam.Create(range(keys)) | beam.Reshuffle()
         | "Text" >> beam.Map(lambda i: (f"key {i}", os.urandom(chars // 2 + 1).hex()[:chars]))
         | "Group" >> beam.GroupByKey() | "Sizes" >> beam.Map(lambda kv: (kv[0][-1], sum(map(len, kv[1]))))
         | "Regroup" >> beam.GroupByKey() | "Count" >> beam.Map(lambda kv: len(kv[1])))
    peaks.stopped.set()
    peaks.join()
    print(json.dumps({"worker_mib": peaks.largest("worker")}))


def passthrough(megabytes: float) -> dict:
    return run_child("--child-passthrough", str(megabytes))


def _burn(unit: int, cpu_s: float) -> int:
    start = time.process_time()
    while time.process_time() - start < cpu_s:
        pass
    return unit


def child_burn(cpu_s: float, units: int, *runner_args: str) -> None:
    """Beam alone, perfectly parallel: ``units`` work units (as many as the dump has streams) that each burn
    ``cpu_s / units`` CPU seconds and nothing else; print the run's wall and CPU seconds."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions
    start = time.perf_counter()
    with beam.Pipeline(options=PipelineOptions(["--runner=FnApiRunner", *runner_args])) as p:
        (p | beam.Create(range(units)) | beam.Reshuffle() | beam.Map(_burn, cpu_s / units)
         | beam.combiners.Count.Globally())
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    print(json.dumps({"seconds": time.perf_counter() - start,
                      "cpu_s": me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime}))


def burn(cpu_s: float, units: int, *runner_args: str) -> dict:
    return run_child("--child-burn", f"{cpu_s:.3f}", str(units), *runner_args)


def beam_ceiling(cpu_s: float, units: int, runs_each: int) -> float:
    """The speed-up 2 worker processes give over 1 on this machine for a job that Beam can split perfectly and
    that needs as much CPU as the pipeline: the most any pipeline of that size could show here."""
    one, two = [], []
    for _ in range(runs_each):
        one.append(burn(cpu_s, units, *WORKERS_1)["seconds"])
        two.append(burn(cpu_s, units, *WORKERS_2)["seconds"])
    return min(one) / min(two)


def multistream_of(dump: str, out: str, times: int, lang: str = "en") -> str:
    """``dump`` replicated ``times`` times (``bench/wiki_replicas.py``: each copy a wiki of its own, links and
    redirects within it) as a multistream dump of 10 pages per stream, so that every run reads its input the
    same way: one work unit per stream, no reshuffle of pages."""
    path, _, _ = write_replicated(dump, out + "-multistream.xml.bz2", times, lang, pages_per_stream=10)
    return path


def fastest(runs: list[dict]) -> dict:
    """Of repeated runs of one configuration: the fastest (what the code can do, with the least interference
    from whatever else the machine was doing), with the highest memory peaks any of them reached."""
    best = dict(min(runs, key=lambda r: r["seconds"]))
    for key in ("runner_mib", "worker_mib", "parser_mib", "peak_mib", "largest_stage_mb"):
        best[key] = max(r[key] for r in runs)
    return best


def fastest_chain(runs: list[dict]) -> dict:
    return min(runs, key=lambda r: r["seconds"])


def measure(dump: str, lang: str, min_mentions: str, quick: bool = False, repeat: int = 4, runs_each: int = 1) -> dict:
    """Every figure of this benchmark; ``quick``: the bare loop, the in-process run, the PMR chain and the
    profiles on the sample only; ``runs_each``: how many times each configuration runs (timings: the fastest;
    memory: the highest)."""
    common = ["--min-mentions", min_mentions]
    runs, chains = {}, {}
    from pipelines.wiki.dump import list_units
    with tempfile.TemporaryDirectory() as tmp:
        x1 = multistream_of(dump, os.path.join(tmp, "x1"), 1, lang)
        units = len(list_units(x1))  # work units (bz2 streams) of the sample
        figures = {"mb": wikitext_mb(x1), "bare_s": min(bare_loop(x1, lang) for _ in range(runs_each))}
        plan = [("one", x1, ())]
        chain_plan = [("chain", x1)]
        largest = x1
        if not quick:
            x4 = largest = multistream_of(dump, os.path.join(tmp, "x4"), repeat, lang)
            plan += [("two", x1, WORKERS_2), ("procs1", x1, WORKERS_1),
                     ("four", x4, ()), ("four_two", x4, WORKERS_2), ("four_procs1", x4, WORKERS_1)]
            chain_plan += [("chain_four", x4)]
        for attempt in range(runs_each):  # interleaved, so that a slow spell of the machine hits every configuration
            for name, path, extra in plan:
                out = os.path.join(tmp, f"{name}-{attempt}")
                runs.setdefault(name, []).append(pipeline(path, lang, out, *common, *extra))
            for name, path in chain_plan:
                chains.setdefault(name, []).append(pmr_chain.run_chain(path, lang, os.path.join(tmp, f"{name}-{attempt}")))
        runs = {name: fastest(each) for name, each in runs.items()}
        figures.update({name: fastest_chain(each) for name, each in chains.items()})
        # Where the time goes, on the largest input (start-up weighs least there): both sides in one process.
        figures["profile"] = run_child("--child-profile", "--input", largest, "--lang", lang, "--output",
                                       os.path.join(tmp, "profile"), "--runner", "FnApiRunner", "--num-shards",
                                       "1", *common)
        figures["chain_profile"] = pmr_chain.profile_chain(largest, lang)
        figures["profile_copies"] = repeat if largest != x1 else 1
    figures.update(runs)
    if not quick:
        figures["beam_small"] = passthrough(runs["procs1"]["largest_stage_mb"])
        figures["beam_large"] = passthrough(runs["four_procs1"]["largest_stage_mb"])
        # The burn matches the pipeline's own CPU: its in-process run's, less what Beam alone costs in process.
        beam_alone = burn(0.0, units)["cpu_s"]
        figures["ceiling"] = beam_ceiling(runs["one"]["cpu_s"] - beam_alone, units, runs_each)
        figures["four_ceiling"] = beam_ceiling(runs["four"]["cpu_s"] - beam_alone, units * repeat, runs_each)
    return figures


def speedup_note(base: dict, two: dict, cores: int) -> str:
    """The CPU-time bound: 2 workers that need ``cpu_s`` CPU seconds cannot finish before cpu_s / cores."""
    floor = two["cpu_s"] / cores
    return (f"2 workers used {two['cpu_s']:.1f} CPU s (1 in-process worker {base['cpu_s']:.1f}): on {cores} cores "
            f"at best {base['seconds'] / floor:.2f}x")


def per_added_copy(small: dict, large: dict, repeat: int) -> float:
    """Seconds the larger input's run takes per copy of the sample beyond the first (start-up cancels out)."""
    return (large["seconds"] - small["seconds"]) / (repeat - 1)


def growth(small: float, large: float) -> str:
    return f"{100 * (large / small - 1):+.0f}%"


def chain_ratios(f: dict) -> dict:
    """Pipeline (in process) against the PMR chain, in CPU seconds of all their processes: on the sample (both
    start-ups included) and, with the larger input, per added copy (start-ups cancel out)."""
    one, chain = f["one"], f["chain"]
    ratios = {"sample": one["cpu_s"] / chain["cpu_s"]}
    if "chain_four" in f:
        ratios["steady"] = ((f["four"]["cpu_s"] - one["cpu_s"]) / (f["chain_four"]["cpu_s"] - chain["cpu_s"]))
    return ratios


def where_time_goes(f: dict) -> list[tuple[str, float | None, float | None]]:
    """(stage, pipeline CPU s, chain CPU s) on the profiled input. Each side's last row is what its profile
    does not see: for the pipeline, the runner and its shuffles; for the chain, its processes' queues, files and
    start-ups (its run's CPU less its profile's, two runs: approximate)."""
    stages, chain = f["profile"]["stages"], f["chain_profile"]
    run = f["chain_four"] if f["profile_copies"] > 1 else f["chain"]
    return [
        ("read (bz2, XML)", stages["read"], chain["read"]),
        ("parse (wikitext to text + anchors; chain: wikiextractor's clean, then its <a> links out)",
         stages["parse"], chain["clean"] + chain["anchors"]),
        ("tokenise (pipelines.tokenize.words)", stages["tokenise"], chain["tokenise"]),
        ("examples (queries, masks, contexts, answers)", stages["examples"], None),
        ("pack / unpack for shuffles (pickle + zlib)", stages["pack"], None),
        ("write (Parquet)", stages["write"], None),
        ("start-up in the DoFns (spaCy import)", stages["start-up"], None),
        ("Beam runner, coders, in-memory shuffles, DoFn bookkeeping", stages["beam"], None),
        ("chain: queues between its processes, its files, start-ups", None,
         run["cpu_s"] - sum(chain.values())),
    ]


def bench_rows(quick: bool = False, dump: str = DEFAULT_DUMP, lang: str = "en",
               min_mentions: str = "3", repeat: int = 4) -> list[tuple[str, str, str, str]]:
    """The figures as (where, what, value, note) rows for ``python -m bench``."""
    f = measure(dump, lang, min_mentions, quick, repeat)
    mb, one = f["mb"], f["one"]
    cores = os.cpu_count() or 1
    where = f"wiki_mrc, {lang} sample {mb:.2f} MB wikitext"
    rows = [(where, "bare loop MB/s per core", f"{mb / f['bare_s']:.3f}", "read + parse + tokenise"),
            (where, "pipeline MB/s per core (1 worker)", f"{mb / one['seconds']:.3f}",
             f"{one['rows'] / one['seconds']:.1f} rows/s; bare/pipeline {one['seconds'] / f['bare_s']:.2f}x "
             "(target <= 1.3)"),
            (where, "peak memory, 1 worker (MiB)", f"{one['peak_mib']:.0f}", "max RSS of the run's processes")]
    chain, ratios = f["chain"], chain_ratios(f)
    rows.append((where, "PMR chain MB/s per core (CPU)", f"{mb / chain['cpu_s']:.3f}",
                 f"wikiextractor {' '.join(pmr_chain.WIKIEXTRACTOR_ARGS[:2])} + words(); pipeline "
                 f"{mb / one['cpu_s']:.3f} MB/s per CPU s"))
    rows.append((where, "pipeline / PMR chain, CPU s", f"{ratios['sample']:.2f}x"
                 + (f"; {ratios['steady']:.2f}x per added copy" if "steady" in ratios else ""),
                 "goal <= 1.3; on the sample (start-ups included)"
                 + ("; per added copy of the sample (start-ups excluded)" if "steady" in ratios else "")))
    if not quick:
        two, four, four_two = f["two"], f["four"], f["four_two"]
        procs1, four_procs1 = f["procs1"], f["four_procs1"]
        rows += [(where, "speed-up, 2 workers (sample)", f"{one['seconds'] / two['seconds']:.2f}x",
                  f"target >= 1.6; vs 1 worker process {procs1['seconds'] / two['seconds']:.2f}x; "
                  + speedup_note(one, two, cores)),
                 (where, "speed-up, 2 workers (4x sample)", f"{four['seconds'] / four_two['seconds']:.2f}x",
                  f"vs 1 worker process {four_procs1['seconds'] / four_two['seconds']:.2f}x; "
                  + speedup_note(four, four_two, cores)),
                 (where, "Beam's speed-up ceiling on this machine (sample; 4x)",
                  f"{f['ceiling']:.2f}x; {f['four_ceiling']:.2f}x",
                  "2 vs 1 worker processes for a pipeline that only burns the same CPU, split perfectly"),
                 (where, "speed-up, 2 workers (steady state)",
                  f"{per_added_copy(procs1, four_procs1, repeat) / per_added_copy(two, four_two, repeat):.2f}x",
                  "vs 1 worker process, on the time the 4x input adds (start-up excluded); vs in process "
                  f"{per_added_copy(one, four, repeat) / per_added_copy(two, four_two, repeat):.2f}x"),
                 (where, "peak memory, 4x sample (MiB)", f"{four['peak_mib']:.0f}",
                  f"{growth(one['peak_mib'], four['peak_mib'])} over the sample, in process (target < 20%)"),
                 (where, "peak memory of a worker process, 4x (MiB)", f"{four_procs1['worker_mib']:.0f}",
                  f"{growth(procs1['worker_mib'], four_procs1['worker_mib'])} over the sample "
                  f"({procs1['worker_mib']:.0f}); runner process {procs1['runner_mib']:.0f} -> "
                  f"{four_procs1['runner_mib']:.0f} MiB ({growth(procs1['runner_mib'], four_procs1['runner_mib'])})"),
                 (where, "Beam's own worker growth, same stage sizes (MiB)",
                  f"+{f['beam_large']['worker_mib'] - f['beam_small']['worker_mib']:.0f}",
                  f"a pass-through pipeline carrying {procs1['largest_stage_mb']:.1f} -> "
                  f"{four_procs1['largest_stage_mb']:.1f} MB per stage; the pipeline's worker "
                  f"+{four_procs1['worker_mib'] - procs1['worker_mib']:.0f}")]
    return rows


def main() -> None:
    if "--child-burn" in sys.argv:
        at = sys.argv.index("--child-burn")
        child_burn(float(sys.argv[at + 1]), int(sys.argv[at + 2]), *sys.argv[at + 3:])
        return
    if "--child-passthrough" in sys.argv:
        child_passthrough(float(sys.argv[sys.argv.index("--child-passthrough") + 1]))
        return
    if "--child-profile" in sys.argv:
        from bench import wiki_profile
        argv = sys.argv[1:]
        argv.remove("--child-profile")
        wiki_profile.child(argv)
        return
    if "--child" in sys.argv:
        argv = sys.argv[1:]
        argv.remove("--child")
        child(argv)
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dump", default=DEFAULT_DUMP)
    parser.add_argument("--lang", default="en")
    parser.add_argument("--min-mentions", default="3")
    parser.add_argument("--runs", type=int, default=1,
                        help="run each configuration this many times: the fastest time, the highest memory")
    parser.add_argument("--repeat", type=int, default=4,
                        help="how many times the larger input repeats the sample (the issue's figure: 4)")
    parser.add_argument("--scale", metavar="N,N,...",
                        help="instead of the comparisons: the pipeline at each of these multiples of the sample "
                             "(e.g. 1,10,50; one worker process), and the cost of whole Wikipedias extrapolated "
                             "from it (bench/wiki_scale.py)")
    args = parser.parse_args()
    if args.repeat < 2:
        parser.error("--repeat must be at least 2")
    if args.scale:
        scale_main(args)
        return
    f = measure(args.dump, args.lang, args.min_mentions, repeat=args.repeat, runs_each=max(1, args.runs))
    mb, bare, one, two, four, four_two = f["mb"], f["bare_s"], f["one"], f["two"], f["four"], f["four_two"]
    procs1, four_procs1 = f["procs1"], f["four_procs1"]
    cores = os.cpu_count() or 1
    print(f"input: {args.dump}: {mb:.2f} MB of article wikitext; {cores} cores")
    print(f"bare loop (read + parse + tokenise), 1 core: {mb / bare:.3f} MB/s ({bare:.1f} s)")
    print(f"pipeline, 1 worker in process:               {mb / one['seconds']:.3f} MB/s "
          f"({one['seconds']:.1f} s, {one['rows']} rows, {one['cpu_s']:.1f} CPU s)")
    print(f"ratio bare / pipeline: {one['seconds'] / bare:.2f}x (target <= 1.3)")
    print_chain(f, args.repeat)
    big = f"{args.repeat}x sample"
    for label, base, single, pair, ceiling in (("sample", one, procs1, two, f["ceiling"]),
                                               (big, four, four_procs1, four_two, f["four_ceiling"])):
        print(f"{label}: 1 worker in process {base['seconds']:.1f} s, 1 worker process {single['seconds']:.1f} s, "
              f"2 worker processes {pair['seconds']:.1f} s (rows {base['rows']}/{single['rows']}/{pair['rows']})")
        print(f"  speed-up with 2 workers: {base['seconds'] / pair['seconds']:.2f}x "
              f"(vs 1 worker process {single['seconds'] / pair['seconds']:.2f}x; target >= 1.6); "
              + speedup_note(base, pair, cores))
        print(f"  Beam's ceiling here: a pipeline that only burns as much CPU, split perfectly over as many work "
              f"units, gets {ceiling:.2f}x from 2 worker processes over 1")
    single, pair, base = (per_added_copy(procs1, four_procs1, args.repeat), per_added_copy(two, four_two, args.repeat),
                          per_added_copy(one, four, args.repeat))
    print(f"steady state (seconds per added copy of the sample, start-up excluded): 1 worker in process "
          f"{base:.2f} s, 1 worker process {single:.2f} s, 2 worker processes {pair:.2f} s")
    print(f"  speed-up with 2 workers: {single / pair:.2f}x vs 1 worker process, {base / pair:.2f}x vs in process "
          "(target >= 1.6)")
    print(f"peak memory in process: {one['peak_mib']:.0f} MiB on the sample, {four['peak_mib']:.0f} MiB on it "
          f"repeated {args.repeat}x ({growth(one['peak_mib'], four['peak_mib'])}, target < 20% at 4x)")
    print(f"page parser process (one per worker): {max(r['parser_mib'] for r in (one, procs1, four, four_procs1)):.0f} "
          "MiB at most")
    print(f"peak memory with 1 worker process: worker {procs1['worker_mib']:.0f} -> {four_procs1['worker_mib']:.0f} "
          f"MiB ({growth(procs1['worker_mib'], four_procs1['worker_mib'])}); runner {procs1['runner_mib']:.0f} -> "
          f"{four_procs1['runner_mib']:.0f} MiB ({growth(procs1['runner_mib'], four_procs1['runner_mib'])})")
    small, large = f["beam_small"]["worker_mib"], f["beam_large"]["worker_mib"]
    print(f"  Beam's own worker on a pass-through pipeline whose stages carry as much as this pipeline's largest "
          f"({procs1['largest_stage_mb']:.1f} -> {four_procs1['largest_stage_mb']:.1f} MB): {small:.0f} -> "
          f"{large:.0f} MiB ({growth(small, large)}, +{large - small:.0f} MiB; the pipeline's worker "
          f"+{four_procs1['worker_mib'] - procs1['worker_mib']:.0f} MiB)")
    print(f"stage inputs, {args.repeat}x sample, 1 worker process: {four_procs1['stage_input_mb']:.1f} MB in all, of "
          f"which GroupByKeys (what a distributed runner shuffles) {four_procs1['shuffle_mb']:.1f} MB; largest:")
    for transform, mb_in in four_procs1["stage_input_mb_by_transform"].items():
        print(f"  {mb_in:8.2f} MB  {transform}")



def print_chain(f: dict, repeat: int) -> None:
    mb, one, chain, ratios = f["mb"], f["one"], f["chain"], chain_ratios(f)
    print(f"PMR chain (wikiextractor {' '.join(pmr_chain.WIKIEXTRACTOR_ARGS)}, then the same words()): "
          f"{mb / chain['cpu_s']:.3f} MB/s per core ({chain['cpu_s']:.1f} CPU s: wikiextractor "
          f"{chain['extract']['cpu_s']:.1f}, tokeniser {chain['tokenise']['cpu_s']:.1f}; {chain['seconds']:.1f} s "
          f"wall; {chain['tokenise']['articles']} articles, {chain['tokenise']['anchors']} anchors)")
    print(f"pipeline in process: {mb / one['cpu_s']:.3f} MB/s per core ({one['cpu_s']:.1f} CPU s); "
          f"pipeline / chain: {ratios['sample']:.2f}x on the sample (start-ups included; goal <= 1.3)")
    if "steady" in ratios:
        print(f"  per added copy of the sample ({repeat}x run less the sample's, start-ups excluded): pipeline "
              f"{(f['four']['cpu_s'] - one['cpu_s']) / (repeat - 1):.1f} CPU s, chain "
              f"{(f['chain_four']['cpu_s'] - chain['cpu_s']) / (repeat - 1):.1f} CPU s: {ratios['steady']:.2f}x")
    rows = where_time_goes(f)
    copies = f["profile_copies"]
    total_p = sum(p for _, p, _ in rows if p is not None)
    total_c = sum(c for _, _, c in rows if c is not None)
    print(f"where the time goes ({copies}x sample; CPU s; the pipeline's profile parses inline, "
          f"its profiled run took {f['profile']['cpu_s']:.1f} CPU s):")
    print(f"  {'stage':<92} {'pipeline':>9} {'share':>6} {'chain':>7} {'share':>6}")
    for stage, p, c in rows:
        cells = (f"{p:9.2f} {100 * p / total_p:5.0f}%" if p is not None else f"{'-':>9} {'':>6}",
                 f"{c:7.2f} {100 * c / total_c:5.0f}%" if c is not None else f"{'-':>7} {'':>6}")
        print(f"  {stage:<92} {cells[0]} {cells[1]}")
    print(f"  {'total':<92} {total_p:9.2f} {'':>6} {total_c:7.2f}")


def scale_main(args) -> None:
    scales = wiki_scale.parse_scales(args.scale)
    with tempfile.TemporaryDirectory() as tmp:
        result = wiki_scale.measure_scales(
            args.dump, args.lang, scales, tmp,
            run_pipeline=lambda path, out: pipeline(path, args.lang, out, "--min-mentions", args.min_mentions,
                                                    *WORKERS_1),
            passthrough=passthrough)
    print(f"input: {args.dump} replicated {', '.join(f'{s}x' for s in scales)} (1 worker process; "
          f"{os.cpu_count()} cores, shared)")
    for line in wiki_scale.scale_table(result) + [""] + wiki_scale.verdicts(result) + [""] \
            + wiki_scale.extrapolation(result):
        print(line)
    print("\n" + json.dumps(result))


if __name__ == "__main__":
    main()
