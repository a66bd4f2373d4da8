"""Word alignment of sentence pairs inside a Beam pipeline: the transform CLISM and label projection share.

    pairs = ... | beam.Map(lambda r: PairToAlign(key=r.id, group="en-de", src=r.src_words, tgt=r.tgt_words))
    links = pairs | AlignPairs(aligner="eflomal")        # (key, ((0, 0), (1, 2), ...)) per emitted pair

How it scales (per ``group``, a language pair; groups never share priors or batches):

1. the group's size is counted;
2. when the group fits in one batch (``batch_size`` pairs), it is aligned in one go: one eflomal run over
   everything is both the simplest and the most accurate;
3. otherwise a deterministic sample of up to ``priors_sample`` pairs (those with the smallest seeded hash of
   their key) is aligned once and turned into eflomal priors (a side input), and the group is cut into about
   ``count / batch_size`` batches by a seeded hash of the key; each batch is aligned on its own worker with
   the priors, each with eflomal's iteration count for the whole group so the batches share one pass's work.
   Non-eflomal aligners take no priors: their batches are aligned independently.

Pairs with ``emit=False`` (extra unlabelled parallel text) take part in priors and batches but yield nothing;
a batch holding only such pairs is not aligned (it could change nothing that is emitted).
Pairs with an empty side are not aligned; an emitted one yields ``(key, ())``. Everything is counted
(``pipelines.shards.count``, names ``align.<group>.<what>``).

``links_file`` replaces the aligner by links computed elsewhere: a UTF-8 text file with one line per pair,
``KEY<TAB>i-j i-j ...`` (0-based Pharaoh links, an empty link list allowed); every emitted key must have a line,
and links past the end of a sentence are an error naming the file and line.

Determinism: sample membership, batch membership and order inside a batch depend only on ``seed`` and the keys,
so another runner or worker count aligns the same pairs together. eflomal's Gibbs sampler itself seeds from
the operating system and cannot be seeded: two runs give slightly different links.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Sequence

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from alignment import (DEFAULT_HEURISTIC, canonical_heuristic, eflomal_iterations, make_aligner, parse_links,
                       priors_from_links)
from alignment.errors import InputError
from pipelines.shards import count

Links = tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class PairToAlign:
    """One word-tokenised sentence pair to align (element of ``AlignPairs``' input)."""

    key: str  # stable, unique id of the pair, e.g. "<corpus>:<line>"
    group: str  # language pair, e.g. "en-de"; priors and batches never mix groups
    src: tuple[str, ...]  # source words
    tgt: tuple[str, ...]  # target words
    emit: bool = True  # False: the pair only helps estimate the model; no links are emitted for it


def stable_hash(seed: int, key: str) -> int:
    """A 64-bit hash of (seed, key) that is the same in every process (Python's ``hash`` is salted)."""
    digest = hashlib.blake2b(f"{seed}\x00{key}".encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def _words(pair: PairToAlign, lowercase: bool) -> tuple[list[str], list[str]]:
    if lowercase:
        return [w.lower() for w in pair.src], [w.lower() for w in pair.tgt]
    return list(pair.src), list(pair.tgt)


class _Skip(beam.DoFn):
    """Pairs with an empty side leave here: emitted ones yield no links (tagged output ``empty``)."""

    EMPTY = "empty"

    def process(self, pair: PairToAlign) -> Iterator[Any]:
        if pair.src and pair.tgt:
            yield pair
        else:
            count(f"align.{pair.group}.skipped_empty_{'source' if not pair.src else 'target'}")
            if pair.emit:
                yield beam.pvalue.TaggedOutput(self.EMPTY, (pair.key, ()))


def _n_batches(size: int, batch_size: int) -> int:
    return max(1, math.ceil(size / batch_size))


class _EstimatePriors(beam.DoFn):
    """(group, sampled pairs) → (group, eflomal priors bytes), only for groups too large for one batch."""

    def __init__(self, aligner: str, options: dict, batch_size: int, lowercase: bool):
        self.aligner, self.options = aligner, options
        self.batch_size, self.lowercase = batch_size, lowercase

    def process(self, element: tuple[str, list[tuple[int, PairToAlign]]], sizes: dict[str, int]):
        group, sample = element
        if sizes[group] > self.batch_size:  # else one batch aligns everything together: no priors needed
            yield group, self._priors(group, sample)

    def _priors(self, group: str, sample: list[tuple[int, PairToAlign]]) -> bytes:
        pairs = [_words(pair, self.lowercase) for _, pair in sorted(sample, key=lambda item: item[0])]
        aligner = make_aligner(self.aligner, **self.options)
        forward, reverse = aligner.align_directional(pairs)
        count(f"align.{group}.priors_pairs", len(pairs))
        return priors_from_links(pairs, forward, reverse)


class _AlignBatch(beam.DoFn):
    """((group, batch), pairs) → (key, links) for every emitted pair of the batch."""

    def __init__(self, aligner: str, heuristic: str, options: dict, lowercase: bool):
        self.aligner, self.heuristic, self.options, self.lowercase = aligner, heuristic, options, lowercase

    def process(self, element: tuple[tuple[str, int], Iterable[PairToAlign]], priors: dict[str, bytes],
                sizes: dict[str, int]):
        (group, _), batch = element
        batch = sorted(batch, key=lambda pair: pair.key)  # the same order whatever the runner delivered
        emitted = [pair for pair in batch if pair.emit]
        if not emitted:  # aligning it could change nothing that is emitted
            count(f"align.{group}.batches_not_aligned_nothing_to_emit")
        else:
            yield from self._align(group, batch, priors.get(group), sizes[group])

    def _align(self, group: str, batch: list[PairToAlign], group_priors: bytes | None, group_size: int):
        options = dict(self.options)
        if group_priors is not None:
            options["priors"] = group_priors
            # The batches together do one pass's work (see alignment.eflomal_iterations).
            options.setdefault("n_iterations", eflomal_iterations(group_size, options.get("model", 3)))
        aligner = make_aligner(self.aligner, **options)
        all_links = aligner.align([_words(pair, self.lowercase) for pair in batch], symmetrize=self.heuristic)
        count(f"align.{group}.batches_aligned")
        count(f"align.{group}.pairs_aligned", len(batch))
        for pair, links in zip(batch, all_links):
            if not pair.emit:
                continue
            if not links:
                count(f"align.{group}.pairs_without_links")
            yield pair.key, tuple((int(i), int(j)) for i, j in links)


def read_keyed_links(path: str) -> Iterator[tuple[str, tuple[int, str]]]:
    """``KEY<TAB>links`` lines of a precomputed links file → (key, (line number, links text))."""
    with FileSystems.open(path) as handle:
        for number, raw in enumerate(handle, start=1):
            line = raw.decode("utf-8").rstrip("\r\n")
            if not line.strip():
                continue
            key, tab, links = line.partition("\t")
            if not tab:
                raise ValueError(f"{path}, line {number}: expected 'KEY<TAB>i-j i-j ...' (a key, a tab, "
                                 "Pharaoh links)")
            yield key, (number, links)


class _JoinPrecomputed(beam.DoFn):
    def __init__(self, path: str):
        self.path = path

    def process(self, element: tuple[str, dict[str, list]]):
        key, joined = element
        pairs, lines = list(joined["pairs"]), sorted(joined["links"])
        if len(lines) > 1:
            raise ValueError(f"{self.path}, line {lines[1][0]}: a second line for key {key!r}")
        if pairs and not lines:
            raise ValueError(f"{self.path}: no links for pair {key!r}")
        if pairs:  # (lines for pairs not in this run are ignored)
            yield self._links(key, pairs[0], *lines[0])

    def _links(self, key: str, pair: PairToAlign, number: int, text: str) -> tuple[str, Links]:
        try:
            links = parse_links(text, lengths=(len(pair.src), len(pair.tgt)), path=self.path, lineno=number)
        except InputError as err:  # re-raised as a plain ValueError: Beam rebuilds errors from their message
            raise ValueError(str(err)) from None
        count(f"align.{pair.group}.pairs_aligned")
        if not links:
            count(f"align.{pair.group}.pairs_without_links")
        return key, tuple(links)


class AlignPairs(beam.PTransform):
    """PCollection[PairToAlign] → PCollection[(key, links)]: 0-based ``(src, tgt)`` links symmetrised with
    ``heuristic``, one output per input pair with ``emit=True``.

    ``aligner``: an ``alignment.make_aligner`` name (eflomal by default; only eflomal uses priors) with
    ``aligner_options`` for its constructor. ``lowercase``: align lower-cased words (the output indices are the
    same; rare capitalised words then share counts with their lower-case forms).
    """

    def __init__(self, aligner: str = "eflomal", heuristic: str = DEFAULT_HEURISTIC,
                 links_file: str | None = None, priors_sample: int = 200_000, batch_size: int = 5_000,
                 seed: int = 0, aligner_options: dict | None = None, lowercase: bool = False):
        super().__init__()
        if priors_sample < 1 or batch_size < 1:
            raise ValueError("priors_sample and batch_size must be at least 1")
        self.aligner = aligner
        self.heuristic = canonical_heuristic(heuristic)  # a typo fails at graph construction
        self.links_file = links_file
        self.priors_sample = priors_sample
        self.batch_size = batch_size
        self.seed = seed
        self.aligner_options = dict(aligner_options or {})
        self.lowercase = lowercase
        if links_file is None:
            make_aligner(aligner, **self.aligner_options)  # unknown aligner or bad option: fail now

    def expand(self, pairs):
        if self.links_file is not None:
            return self._expand_precomputed(pairs)
        checked = pairs | "SkipEmpty" >> beam.ParDo(_Skip()).with_outputs(_Skip.EMPTY, main="pairs")
        to_align = checked.pairs
        by_group = to_align | "ByGroup" >> beam.Map(lambda pair: (pair.group, pair))
        sizes = beam.pvalue.AsDict(by_group | "GroupSizes" >> beam.combiners.Count.PerKey())

        seed, batch_size = self.seed, self.batch_size
        if self.aligner == "eflomal":
            priors = beam.pvalue.AsDict(
                by_group
                | "HashForSample" >> beam.Map(lambda kv: (kv[0], (stable_hash(seed, kv[1].key), kv[1])))
                | "PriorsSample" >> beam.combiners.Top.SmallestPerKey(self.priors_sample, key=lambda item: item[0])
                | "EstimatePriors" >> beam.ParDo(_EstimatePriors(self.aligner, self.aligner_options, batch_size,
                                                                 self.lowercase), sizes))
        else:  # only eflomal takes priors
            priors = beam.pvalue.AsDict(pairs.pipeline | "NoPriors" >> beam.Create([]))

        def to_batch(kv: tuple[str, PairToAlign], sizes: dict[str, int]):
            group, pair = kv
            # A different hash from the sample's (seed + 1), so the sample spreads over the batches.
            batch = stable_hash(seed + 1, pair.key) % _n_batches(sizes[group], batch_size)
            return (group, batch), pair

        aligned = (
            by_group
            | "AssignBatch" >> beam.Map(to_batch, sizes)
            | "GroupBatches" >> beam.GroupByKey()
            | "AlignBatches" >> beam.ParDo(
                _AlignBatch(self.aligner, self.heuristic, self.aligner_options, self.lowercase), priors, sizes))
        return (aligned, checked[_Skip.EMPTY]) | "WithEmpty" >> beam.Flatten()

    def _expand_precomputed(self, pairs):
        path = self.links_file
        emitted = (pairs
                   | "EmittedOnly" >> beam.Filter(lambda pair: pair.emit)
                   | "KeyPairs" >> beam.Map(lambda pair: (pair.key, pair)))
        links = (pairs.pipeline
                 | "LinksFile" >> beam.Create([path])
                 | "ReadLinks" >> beam.FlatMap(read_keyed_links))
        return ({"pairs": emitted, "links": links}
                | "JoinLinks" >> beam.CoGroupByKey()
                | "CheckLinks" >> beam.ParDo(_JoinPrecomputed(path)))


def format_keyed_links(key: str, links: Iterable[tuple[int, int]]) -> str:
    """One ``KEY<TAB>i-j i-j ...`` line (the ``links_file`` format), without its newline."""
    if "\t" in key or "\n" in key:
        raise ValueError(f"key {key!r} holds a tab or newline")
    return key + "\t" + " ".join(f"{i}-{j}" for i, j in sorted(set(links)))


def write_keyed_links(out, keyed: Iterable[tuple[str, Sequence[tuple[int, int]]]]) -> None:
    """Write ``KEY<TAB>links`` lines (the ``links_file`` format) to an open text file."""
    for key, links in keyed:
        out.write(format_keyed_links(key, links) + "\n")
