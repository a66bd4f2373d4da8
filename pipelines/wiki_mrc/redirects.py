"""Redirect resolution as keyed joins, so that links to a redirect reach their article (mPMR's scripts dropped
such links).

A redirect is an edge ``src → dst`` (both normalised titles). Resolving every redirect to its final title
is done in rounds, each a ``CoGroupByKey`` keyed by the title a redirect currently points at:

    round k:  {edge: (title, next title)} ⋈ {waiting: (title, (origin, path))}  by title
              no edge at that title → (origin, title) is final
              an edge → follow it; a title already on the path is a cycle (counted, dropped)

so no worker ever holds the redirect table (enwiki has ~10M redirects): a worker holds, per title, the one
edge leaving it and the redirects waiting on it. Most redirects end after the first round; chains longer
than ``max_hops`` are dropped and counted (MediaWiki itself follows one hop; double redirects are bot-fixed
within days, so a long chain is an error in the dump, not content).

:func:`resolve_in_memory` is the same algorithm over a dict, for tests and small tools.
"""
from __future__ import annotations

from typing import Dict, Iterable, Tuple

import apache_beam as beam

from pipelines.shards import CountingDoFn, CountingFlatMap, count, count_drop
from pipelines.wiki_mrc.config import DEFAULT_MAX_HOPS


def resolve_in_memory(edges: Iterable[Tuple[str, str]], max_hops: int = DEFAULT_MAX_HOPS
                      ) -> Tuple[Dict[str, str], Dict[str, str]]:
    """``({src: final title}, {src: reason})`` with reason ``"cycle"`` or ``"too_long"``. Duplicate sources
    keep the smallest target (the Beam transform makes the same choice)."""
    table: Dict[str, str] = {}
    for src, dst in edges:
        table[src] = min(dst, table.get(src, dst))
    final, failed = {}, {}
    for src in table:
        path: Tuple[str, ...] = (src,)
        cur = table[src]
        for _ in range(max_hops):
            if cur not in table:
                final[src] = cur
                break
            nxt = table[cur]
            if nxt in path or nxt == cur:
                failed[src] = "cycle"
                break
            path, cur = path + (cur,), nxt
        else:
            failed[src] = "too_long"
    return final, failed


class _Follow(CountingDoFn):
    """One round: for one title, the edge leaving it (if any) and the redirects that currently point at it."""

    DONE = "done"

    def process(self, element):
        title, groups = element
        edges = sorted(groups["edge"])
        waiting = groups["waiting"]
        if not edges:
            for origin, _path in waiting:
                yield beam.pvalue.TaggedOutput(self.DONE, (origin, title))
            return
        nxt = edges[0]
        for origin, path in waiting:
            if nxt in path or nxt == title:
                count_drop("redirect_cycle")
                continue
            yield nxt, (origin, path + (title,))


class ResolveRedirects(beam.PTransform):
    """``(src, dst)`` redirect edges → ``(src, final title)`` for every redirect whose chain ends within
    ``max_hops`` hops without a cycle. The final title is not a redirect; whether it is a kept article is for
    the caller's join with the articles to tell."""

    def __init__(self, max_hops: int = DEFAULT_MAX_HOPS):
        super().__init__()
        if max_hops < 1:
            raise ValueError("max_hops must be at least 1")
        self.max_hops = max_hops

    def expand(self, edges):
        # A title redirected twice (duplicate pages across inputs): one deterministic target.
        edges = edges | "OneEdgePerTitle" >> beam.CombinePerKey(min)
        waiting = edges | "Start" >> beam.Map(lambda kv: (kv[1], (kv[0], (kv[0],))))
        finals = []
        for hop in range(1, self.max_hops + 1):
            joined = {"edge": edges, "waiting": waiting} | f"Join{hop}" >> beam.CoGroupByKey()
            step = joined | f"Follow{hop}" >> beam.ParDo(_Follow()).with_outputs(_Follow.DONE, main="active")
            finals.append(step[_Follow.DONE])
            waiting = step.active
        # Still pointing at a redirect after max_hops hops.
        _ = waiting | "CountTooLong" >> beam.ParDo(CountingFlatMap(_count_too_long))
        resolved = tuple(finals) | "Finals" >> beam.Flatten()
        return resolved | "CountResolved" >> beam.ParDo(CountingFlatMap(_counted))


def _count_too_long(_) -> None:
    count_drop("redirect_chain_too_long")


def _counted(kv):
    count("redirects_resolved")
    return [kv]
