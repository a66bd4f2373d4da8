"""The chain mPMR's users run instead of the pipeline (paper 001, §2.2: WikiExtractor, then a word tokeniser):
``wikiextractor --no-templates -l`` (PyPI ``wikiextractor``) on a dump, then the anchors taken out of its
``<a href>`` markup and the text split by the same word tokeniser as the pipeline's (``pipelines.tokenize.words``).

Measured two ways:
- ``run_chain``: as a user runs it, in subprocesses (wikiextractor with ``--processes 1``: a reader, one
  extractor and one writer process); wall time and the CPU seconds of every process, per stage;
- ``profile_chain``: the same work in this process, stage by stage, to see where its time goes: reading (bz2 +
  wikiextractor's line-by-line XML split), wikiextractor's cleaning, the anchors' extraction, tokenising.
The chain stops where the pipeline starts doing more: no redirects, no entities, no queries, no contexts.
"""
from __future__ import annotations

import glob
import html
import json
import os
import re
import resource
import subprocess
import sys
import time
from typing import Iterator, List, Tuple

WIKIEXTRACTOR_ARGS = ("--no-templates", "-l", "--json", "--processes", "1", "-q")
# wikiextractor -l writes an anchor as <a href="Target%20title">text</a> (HTML-escaped inside its JSON text).
_ANCHOR = re.compile(r'<a href="([^"]*)">(.*?)</a>', re.S)


def _cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_wikiextractor(dump: str, out_dir: str) -> dict:
    """wikiextractor on ``dump`` in a subprocess: wall and CPU seconds (its reader, extractor and writer
    processes), articles written, bytes of output."""
    before = _cpu_of_children()
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "wikiextractor.WikiExtractor", *WIKIEXTRACTOR_ARGS,
                           "-o", out_dir, dump], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"wikiextractor failed (exit {done.returncode}): {done.stderr[-2000:]}")
    files = sorted(glob.glob(os.path.join(out_dir, "*", "wiki_*")))
    articles = sum(1 for path in files for _ in open(path, encoding="utf-8"))
    return {"seconds": seconds, "cpu_s": _cpu_of_children() - before, "articles": articles,
            "output_bytes": sum(os.path.getsize(p) for p in files)}


def plain_text(extracted: str) -> Tuple[str, List[Tuple[int, int, str]]]:
    """wikiextractor's text with ``-l`` → (text without the link markup, anchors ``(start, end, target)``)."""
    raw = html.unescape(extracted)
    pieces, anchors, at, length = [], [], 0, 0
    for m in _ANCHOR.finditer(raw):
        pieces.append(raw[at:m.start()])
        length += m.start() - at
        label = m.group(2)
        anchors.append((length, length + len(label), m.group(1)))
        pieces.append(label)
        length += len(label)
        at = m.end()
    pieces.append(raw[at:])
    return "".join(pieces), anchors


def articles_of(out_dir: str) -> Iterator[str]:
    for path in sorted(glob.glob(os.path.join(out_dir, "*", "wiki_*"))):
        with open(path, encoding="utf-8") as lines:
            for line in lines:
                yield json.loads(line)["text"]


def child_tokenise(out_dir: str, lang: str) -> None:
    """The chain's second step (run in a fresh process by ``run_chain``): every article wikiextractor wrote →
    plain text and anchors → words. Prints its wall and CPU seconds, start-up (the tokeniser's) included."""
    start = time.perf_counter()
    from pipelines.tokenize import import_spacy_without_torch, words
    import_spacy_without_torch()
    words("warm up", lang)
    counts = {"articles": 0, "anchors": 0, "words": 0, "chars": 0}
    for extracted in articles_of(out_dir):
        text, anchors = plain_text(extracted)
        counts["articles"] += 1
        counts["anchors"] += len(anchors)
        counts["chars"] += len(text)
        counts["words"] += len(words(text, lang))
    me = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"seconds": time.perf_counter() - start, "cpu_s": me.ru_utime + me.ru_stime, **counts}))


def run_chain(dump: str, lang: str, work_dir: str) -> dict:
    """The whole chain on ``dump``, each step in its own processes as a user runs it: per step and in all,
    wall and CPU seconds (start-ups included, as the pipeline's are)."""
    out_dir = os.path.join(work_dir, "extracted")
    extract = run_wikiextractor(dump, out_dir)
    done = subprocess.run([sys.executable, os.path.abspath(__file__), "--child-tokenise", out_dir, lang],
                          capture_output=True, text=True, cwd=os.path.dirname(os.path.dirname(__file__)))
    if done.returncode != 0:
        raise RuntimeError(f"the chain's tokeniser failed: {done.stderr[-2000:]}")
    tokenise = json.loads(done.stdout.strip().splitlines()[-1])
    return {"extract": extract, "tokenise": tokenise, "seconds": extract["seconds"] + tokenise["seconds"],
            "cpu_s": extract["cpu_s"] + tokenise["cpu_s"]}


def profile_chain(dump: str, lang: str) -> dict:
    """The chain's work in this process, one stage after another, CPU seconds per stage (``process_time``, so
    that a busy machine does not count its other work): ``read`` (bz2 and
    wikiextractor's XML split into pages), ``clean`` (wikiextractor's Extractor, JSON out), ``anchors`` (link
    markup out of its text), ``tokenise`` (the words)."""
    from wikiextractor import WikiExtractor as wx
    from wikiextractor.extract import Extractor, _DEFAULT_IGNORED_TAG_PATTERNS
    from io import StringIO
    from pipelines.tokenize import import_spacy_without_torch, words
    import_spacy_without_torch()
    words("warm up", lang)
    seconds = {"read": 0.0, "clean": 0.0, "anchors": 0.0, "tokenise": 0.0}
    with wx.decode_open(dump) as source:
        # wikiextractor's own set-up reads the siteinfo first (template namespace, known namespaces).
        known, prefix, urlbase = set(), "Template:", ""
        for line in source:
            m = wx.tagRE.search(line)
            if not m:
                continue
            if m.group(2) == "base":
                urlbase = m.group(3)[:m.group(3).rfind("/")]
            elif m.group(2) == "namespace":
                known.add(m.group(3))
                if 'key="10"' in line:
                    prefix = m.group(3) + ":"
            elif m.group(2) == "/siteinfo":
                break
        # collect_pages skips titles in the module's template namespace, which process_dump sets (to "" it
        # would skip every page).
        wx.templateNamespace = prefix[:-1]
        pages = wx.collect_pages(source)
        while True:
            t0 = time.process_time()
            page = next(pages, None)
            t1 = time.process_time()
            seconds["read"] += t1 - t0
            if page is None:
                break
            page_id, revid, title, lines = page
            out = StringIO()
            Extractor(page_id, revid, urlbase, title, lines, templatePrefix=prefix, knownNamespaces=known,
                      ignored_tag_patterns=list(_DEFAULT_IGNORED_TAG_PATTERNS), keepLinks=True,
                      to_json=True).extract(out, True)
            t2 = time.process_time()
            text, _ = plain_text(json.loads(out.getvalue())["text"])
            t3 = time.process_time()
            words(text, lang)
            t4 = time.process_time()
            seconds["clean"] += t2 - t1
            seconds["anchors"] += t3 - t2
            seconds["tokenise"] += t4 - t3
    return seconds


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child-tokenise"]:
        sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        child_tokenise(sys.argv[2], sys.argv[3])
    else:
        sys.exit("pmr_chain.py is run by bench/wiki_mrc.py (python bench/wiki_mrc.py --help)")
