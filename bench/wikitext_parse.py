"""Wikitext → text and anchors (``pipelines.wiki.wikitext.parse_wikitext``), in this process, against its baselines.

    python bench/wikitext_parse.py [--quick] [--rounds N] [--data DIR]      (~1 min on 2 loaded cores)

Every page with text of every dump under ``$POLYSPAN_DATA/wiki`` (default ``../shared/data``) and of
``pipelines/samples/enwiki-sample.xml`` is converted, with each dump's own namespace table, by

- ``tokens``: the conversion as the pipeline runs it (our tree builder over mwparserfromhell's C tokens);
- ``stock``: the same walk over mwparserfromhell's own ``parse()`` tree with the garbage collector running,
  i.e. the conversion before our builder (its output must be identical: every page is compared, a difference
  is reported and fails the run);
- ``strip_code``: mwparserfromhell's ``parse()`` + ``strip_code()``, the library's own plain-text path (a
  different output: refs and captions kept, no anchors), for scale.

The three take turns page by page (rounds × pages, in the same process), so a loaded machine slows them alike;
CPU seconds (``time.process_time``) are summed per dump. Printed: one row per dump and the total with the
ratios stock/tokens and strip_code/tokens (above 1: ours is faster).
"""
from __future__ import annotations

import argparse
import glob
import os
import sys
import time
from pathlib import Path
from typing import Dict, List, Tuple

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import mwparserfromhell  # noqa: E402

from pipelines.wiki.dump import read_pages, read_siteinfo  # noqa: E402
from pipelines.wiki.titles import NamespaceTable  # noqa: E402
from pipelines.wiki.wikitext import parse_wikitext, uses_c_tokenizer  # noqa: E402
from bench._paths import data_root  # noqa: E402

SAMPLE = ROOT / "pipelines" / "samples" / "enwiki-sample.xml"
Row = Tuple[str, str, str, str]


def load(data: Path, quick: bool = False) -> List[Tuple[str, str, NamespaceTable, List[str]]]:
    """(dump name, language, namespace table, wikitexts) for each dump and the sample (quick: the English
    article dump and the sample only)."""
    paths = sorted(glob.glob(str(data / "wiki" / ("enwiki-pages-articles-*.xml*" if quick else "*.xml*"))))
    if not paths:
        raise SystemExit(f"no dumps under {data / 'wiki'}: set POLYSPAN_DATA to the shared data folder")
    loaded = []
    for path in paths + [str(SAMPLE)]:
        info = read_siteinfo(path)
        # The table-markup dump has no siteinfo: its name says English.
        lang = (info.lang if info is not None and info.lang else None) or os.path.basename(path)[:2]
        table = NamespaceTable.from_siteinfo(info, lang) if info is not None else NamespaceTable.default(lang)
        texts = [page.text for page in read_pages(path, on_fault="skip") if page.text]
        loaded.append((os.path.basename(path), lang, table, texts))
    return loaded


def _signature(result) -> tuple:
    return (result.text, [(a.start, a.end, a.target) for a in result.anchors], result.bold_aliases,
            result.templates, result.magic_words, result.counters, result.skipped)


def measure(dumps, rounds: int) -> Tuple[List[Dict], int]:
    """CPU seconds per dump and way; the number of pages whose tokens and stock outputs differ."""
    clock = time.process_time
    rows, differences = [], 0
    for tree_builder in ("tokens", "stock"):  # first-use costs (the builder's self-check, regex compiles)
        parse_wikitext("[[warm]] {{up}}", tree_builder=tree_builder)
    for name, lang, table, texts in dumps:
        seconds = {"tokens": 0.0, "stock": 0.0, "strip_code": 0.0}
        for round_ in range(rounds):
            for page, text in enumerate(texts):
                start = clock()
                ours = parse_wikitext(text, lang, table)
                middle = clock()
                stock = parse_wikitext(text, lang, table, tree_builder="stock")
                end = clock()
                mwparserfromhell.parse(text).strip_code()
                seconds["strip_code"] += clock() - end
                seconds["tokens"] += middle - start
                seconds["stock"] += end - middle
                if round_ == 0 and _signature(ours) != _signature(stock):
                    differences += 1
                    print(f"output differs: {name}, page {page}", file=sys.stderr)
        rows.append({"dump": name, "pages": len(texts), "chars": sum(map(len, texts)), **seconds})
    return rows, differences


def report(rows: List[Dict], rounds: int) -> str:
    total = {"dump": "all", "pages": sum(r["pages"] for r in rows), "chars": sum(r["chars"] for r in rows)}
    for key in ("tokens", "stock", "strip_code"):
        total[key] = sum(r[key] for r in rows)
    lines = [f"CPU seconds over {rounds} round(s); C tokenizer: {uses_c_tokenizer()}",
             f"{'dump':48} {'pages':>6} {'Mchars':>7} {'tokens':>7} {'stock':>7} {'strip':>7} "
             f"{'stock/tokens':>12} {'strip/tokens':>12}"]
    for r in rows + [total]:
        lines.append(f"{r['dump']:48} {r['pages']:6d} {r['chars'] / 1e6:7.2f} {r['tokens']:7.2f} {r['stock']:7.2f} "
                     f"{r['strip_code']:7.2f} {r['stock'] / r['tokens']:12.2f} {r['strip_code'] / r['tokens']:12.2f}")
    return "\n".join(lines)


def bench_rows(quick: bool = False) -> List[Row]:
    rows, differences = measure(load(data_root(), quick), 1)
    total = {k: sum(r[k] for r in rows) for k in ("tokens", "stock", "strip_code")}
    note = f"{sum(r['pages'] for r in rows)} pages of the test dumps, same process"
    return [("wikitext", "stock builder / ours (CPU)", f"{total['stock'] / total['tokens']:.2f}x",
             note + ("" if not differences else f"; {differences} pages DIFFER")),
            ("wikitext", "parse()+strip_code() / ours (CPU)", f"{total['strip_code'] / total['tokens']:.2f}x", note)]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=1, help="times each page is converted each way (default 1)")
    ap.add_argument("--quick", action="store_true", help="the English article dump and the sample only")
    ap.add_argument("--data", help="shared data folder (default: $POLYSPAN_DATA or ../shared/data)")
    args = ap.parse_args(argv)
    rounds = max(1, args.rounds)
    rows, differences = measure(load(data_root(args.data), args.quick), rounds)
    print(report(rows, rounds))
    if differences:
        print(f"{differences} pages: output of the tokens builder differs from the stock builder's")
        return 1
    print("output identical on every page")
    return 0


if __name__ == "__main__":
    sys.exit(main())
