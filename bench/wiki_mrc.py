"""Benchmark of the Wikipedia MRC pipeline against a bare loop, in one run (DESIGN.md: benchmarks print a ratio
against a baseline measured in the same run).

    python bench/wiki_mrc.py [--dump PATH] [--lang en]

Prints, on the English sample (the shared enwiki excerpt) re-packed as a multistream dump:
- wikitext MB/s per core of a bare loop over the same pages (read + mwparserfromhell parse + tokenise);
- wikitext MB/s per core of the pipeline on one worker (FnApiRunner), and the ratio bare / pipeline
  (target ≤ 1.3);
- the speed-up of the pipeline with 2 worker processes (target ≥ 1.6);
- peak memory (max RSS of the run's processes) on the sample and on the sample repeated 4× (target: < 20%
  growth).
Each pipeline run is a fresh subprocess, so its peak memory and start-up are its own.
"""
from __future__ import annotations

import argparse
import bz2
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
DEFAULT_DUMP = os.path.join(ROOT, os.environ.get("POLYSPAN_DATA", "../shared/data"),
                            "wiki/enwiki-pages-articles-shortened.xml.bz2")


def wikitext_mb(path: str) -> float:
    from pipelines.wiki_dump import DumpFault, iter_unit, list_units
    total = 0
    for unit in list_units(path):
        for page in iter_unit(unit):
            if not isinstance(page, DumpFault) and page.namespace == 0 and not page.is_redirect:
                total += len(page.text.encode("utf-8"))
    return total / 1e6


def bare_loop(path: str, lang: str) -> float:
    """Seconds for read + parse + tokenise of every article, in this process."""
    from pipelines.tokenize import words
    from pipelines.wiki_dump import DumpFault, iter_unit, list_units, read_siteinfo
    from pipelines.wiki_titles import NamespaceTable
    from pipelines.wikitext import WikiTextParser
    words("warm up", lang)
    parser = WikiTextParser(lang, NamespaceTable.from_siteinfo(read_siteinfo(path), lang))
    start = time.perf_counter()
    for unit in list_units(path):
        for page in iter_unit(unit):
            if isinstance(page, DumpFault) or page.namespace != 0 or page.is_redirect:
                continue
            words(parser.parse(page.text).text, lang)
    return time.perf_counter() - start


def repeat_dump(src: str, dst: str, times: int) -> None:
    """The dump with its pages repeated ``times`` times (titles and ids made unique)."""
    raw = bz2.decompress(open(src, "rb").read()).decode("utf-8")
    first, last = raw.index("<page>"), raw.rindex("</page>") + len("</page>")
    pages = raw[first:last]
    copies = [pages] + [re.sub(r"<title>(.*?)</title>", rf"<title>\1 r{n}</title>",
                               re.sub(r"<id>(\d+)</id>", lambda m: f"<id>{int(m.group(1)) + n * 10**8}</id>", pages))
                        for n in range(1, times)]
    with open(dst + ".xml", "w", encoding="utf-8") as out:
        out.write(raw[:first] + "\n".join(copies) + raw[last:])


def pipeline(path: str, lang: str, out: str, *extra: str) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--child", "--input", path, "--lang", lang,
           "--output", out, "--runner", "FnApiRunner", "--num-shards", "1", *extra]
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-3000:])
    return json.loads(result.stdout.strip().splitlines()[-1])


def child(argv) -> None:
    """Run the pipeline in this process; print its wall time and peak memory (this process and children)."""
    import logging
    logging.disable(logging.WARNING)
    from pipelines.wiki_mrc.__main__ import run
    start = time.perf_counter()
    manifest = run(argv)
    seconds = time.perf_counter() - start
    rss = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
              resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024  # KiB → MiB (Linux)
    print(json.dumps({"seconds": seconds, "peak_mib": rss, "rows": manifest.row_count}))


def measure(dump: str, lang: str, min_mentions: str, quick: bool = False) -> dict:
    """Every figure of this benchmark; ``quick``: the bare loop and one worker only (no 2-worker run, no 4x
    memory run)."""
    from pipelines.wiki_dump import write_multistream
    common = ["--min-mentions", min_mentions]
    with tempfile.TemporaryDirectory() as tmp:
        multistream, _ = write_multistream(dump, os.path.join(tmp, "bench-multistream.xml.bz2"),
                                           pages_per_stream=10)
        figures = {"mb": wikitext_mb(multistream), "bare_s": bare_loop(multistream, lang)}
        figures["one"] = pipeline(multistream, lang, os.path.join(tmp, "one"), *common)
        if quick:
            return figures
        figures["two"] = pipeline(multistream, lang, os.path.join(tmp, "two"), *common, "--direct_num_workers=2",
                                  "--direct_running_mode=multi_processing")
        repeat_dump(dump, os.path.join(tmp, "x4"), 4)
        figures["four"] = pipeline(os.path.join(tmp, "x4.xml"), lang, os.path.join(tmp, "four"), *common)
    return figures


def bench_rows(quick: bool = False, dump: str = DEFAULT_DUMP, lang: str = "en",
               min_mentions: str = "3") -> list[tuple[str, str, str, str]]:
    """The figures as (where, what, value, note) rows for ``python -m bench``."""
    f = measure(dump, lang, min_mentions, quick)
    mb, one = f["mb"], f["one"]
    where = f"wiki_mrc, {lang} sample {mb:.2f} MB wikitext"
    rows = [(where, "bare loop MB/s per core", f"{mb / f['bare_s']:.3f}", "read + parse + tokenise"),
            (where, "pipeline MB/s per core (1 worker)", f"{mb / one['seconds']:.3f}",
             f"{one['rows'] / one['seconds']:.1f} rows/s; bare/pipeline {one['seconds'] / f['bare_s']:.2f}x "
             "(target <= 1.3)"),
            (where, "peak memory, 1 worker (MiB)", f"{one['peak_mib']:.0f}", "max RSS of the run's processes")]
    if not quick:
        two, four = f["two"], f["four"]
        rows += [(where, "pipeline speed-up, 2 workers", f"{one['seconds'] / two['seconds']:.2f}x",
                  "target >= 1.6"),
                 (where, "peak memory, 4x sample (MiB)", f"{four['peak_mib']:.0f}",
                  f"+{100 * (four['peak_mib'] / one['peak_mib'] - 1):.0f}% over the sample (target < 20%)")]
    return rows


def main() -> None:
    if "--child" in sys.argv:
        argv = sys.argv[1:]
        argv.remove("--child")
        child(argv)
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dump", default=DEFAULT_DUMP)
    parser.add_argument("--lang", default="en")
    parser.add_argument("--min-mentions", default="3")
    args = parser.parse_args()
    f = measure(args.dump, args.lang, args.min_mentions)
    mb, bare, one, two, four = f["mb"], f["bare_s"], f["one"], f["two"], f["four"]
    print(f"input: {args.dump}: {mb:.2f} MB of article wikitext; {os.cpu_count()} cores")
    print(f"bare loop (read + parse + tokenise), 1 core: {mb / bare:.3f} MB/s ({bare:.1f} s)")
    print(f"pipeline, 1 worker:                           {mb / one['seconds']:.3f} MB/s "
          f"({one['seconds']:.1f} s, {one['rows']} rows)")
    print(f"ratio bare / pipeline: {one['seconds'] / bare:.2f}x (target <= 1.3)")
    print(f"pipeline, 2 workers: {two['seconds']:.1f} s, speed-up {one['seconds'] / two['seconds']:.2f}x "
          f"(target >= 1.6; rows {two['rows']})")
    print(f"peak memory: {one['peak_mib']:.0f} MiB on the sample, {four['peak_mib']:.0f} MiB on it repeated 4x "
          f"(+{100 * (four['peak_mib'] / one['peak_mib'] - 1):.0f}%, target < 20%)")


if __name__ == "__main__":
    main()
