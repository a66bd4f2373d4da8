"""The steps around ``AlignPairs`` that every aligning pipeline takes: its own pairs into the aligner, and each
pair back together with its links.

    links = align_pairs(pairs, to_align, options, seed, extra=[unlabelled])   # (key, links) per emitted pair
    joined = join_links(pairs_with_labels, links)                             # (pair, links), one per key

A pipeline's pairs need a ``key`` attribute, unique in the run (``AlignPairs`` emits once per key).
"""
from __future__ import annotations

from typing import Any, Callable, Iterator, Sequence

import apache_beam as beam

from pipelines.align.options import AlignmentOptions
from pipelines.align.transforms import AlignPairs, Links, PairToAlign
from pipelines.shards import count, count_drop


def align_pairs(pairs: beam.PCollection, to_align: Callable[[Any], PairToAlign], options: AlignmentOptions,
                seed: int, *, extra: Sequence[beam.PCollection] = ()) -> beam.PCollection:
    """``pairs`` (as ``to_align`` turns them into ``PairToAlign``), and the ``PairToAlign`` collections in
    ``extra`` (unlabelled text that only helps estimate the model), aligned: ``(key, links)`` per emitted pair."""
    inputs = [pairs | "ToAlign" >> beam.Map(to_align), *extra]
    merged = inputs[0] if len(inputs) == 1 else inputs | "AlignInput" >> beam.Flatten()
    return merged | "AlignPairs" >> AlignPairs.from_options(options, seed)


def _one_pair_one_link_set(key: str, joined: dict[str, list]) -> Iterator[tuple[Any, Links]]:
    pairs, links = list(joined["pair"]), list(joined["links"])
    if len(pairs) != 1 or len(links) != 1:  # a defect guard: keys are unique and AlignPairs emits once a key
        raise RuntimeError(f"pair {key!r}: {len(pairs)} pair(s) and {len(links)} link set(s) joined; keys must "
                           "be unique and every emitted pair aligned once")
    yield pairs[0], links[0]


def join_links(pairs: beam.PCollection, links: beam.PCollection) -> beam.PCollection:
    """Each pair with its links, ``(pair, links)``; ``pairs`` are those ``align_pairs`` emitted links for."""
    return ({"pair": pairs | "KeyPairs" >> beam.Map(lambda pair: (pair.key, pair)), "links": links}
            | "JoinLinks" >> beam.CoGroupByKey()
            | "OnePairOneLinkSet" >> beam.FlatMapTuple(_one_pair_one_link_set))


def drop_counter(align_only: bool) -> Callable[[str, int], None]:
    """How a pipeline counts a pair it cannot use: a labelled pair is a drop (``count_drop``: its row is lost); a
    pair that is only aligned never becomes a row, so losing it is counted as ``extra_pairs_unusable.<reason>``
    and is no drop."""
    if align_only:
        return lambda reason, n=1: count(f"extra_pairs_unusable.{reason}", n)
    return count_drop
