"""Word alignment of sentence pairs inside a Beam pipeline: the transform CLISM and label projection share.

    pairs = ... | beam.Map(lambda r: PairToAlign(key=r.id, group="en-de", src=r.src_words, tgt=r.tgt_words))
    links = pairs | AlignPairs(aligner="eflomal")        # (key, ((0, 0), (1, 2), ...)) per emitted pair
    links = pairs | AlignPairs.from_options(options, seed)   # a pipeline's AlignmentOptions

Every aligner of ``alignment.registry`` runs here (eflomal, fast_align, GIZA++/MGIZA++). How it scales (per
``group``, a language pair; groups never share models or batches). Every pair is aligned exactly once:

1. the group's size is counted;
2. when the group fits in one batch (``batch_size`` pairs), it is aligned in one go: one run of the aligner
   over everything is both the simplest and the most accurate;
3. otherwise, for an aligner that can hand a trained model on (``Aligner.shares_model``: eflomal, its priors;
   fast_align, its parameter tables), a deterministic sample of up to ``priors_sample`` pairs (those with the
   smallest seeded hash of their key) is aligned in one run on one worker. That run is a full alignment of the
   sampled pairs: their links are emitted from it. When the sample holds the whole group, that is all (one
   pass, no batches);
4. when the group is larger than the sample, the sample's run also exports its model (a side input), and only
   the pairs outside the sample are cut into about ``(count - sample) / batch_size`` batches by a seeded hash
   of the key; each batch is aligned on its own worker with that model (eflomal: with its iteration count for
   the whole group, so the batches together do about one pass's work; fast_align: without training).
   GIZA++ cannot take a model on: there is no sample, every pair goes to a batch, each trained on its own.

So the work is about one alignment of the corpus; the wall time is the sample's run (one worker) followed by
one batch (many workers in parallel).

Pairs with ``emit=False`` (extra unlabelled parallel text) take part in the sample and batches but yield
nothing; a sample or batch holding only such pairs is not aligned when nothing depends on it.
Pairs with an empty side are not aligned; an emitted one yields ``(key, ())``. Everything is counted
(``pipelines.shards.count``, names ``align.<group>.<what>``): ``pairs_aligned`` (every pair aligned, once),
``sample_pairs_aligned`` and ``model_pairs`` (the sample run; a model only when batches follow),
``batches_aligned``, the emitted link sets by where they came from, ``links_from_sample`` and
``links_from_batches``, and pairs the aligner leaves without links by its reason (``not_aligned.<reason>``,
e.g. GIZA's ``over_giza_max_length``).

``links_file`` replaces the aligner by links computed elsewhere: a UTF-8 text file with one line per pair,
``KEY<TAB>i-j i-j ...`` (0-based Pharaoh links, an empty link list allowed); every emitted key must have a line,
and links past the end of a sentence are an error naming the file and line.

Determinism: sample membership, batch membership and order inside a run depend only on ``seed`` and the keys,
so another runner or worker count aligns the same pairs together. eflomal's Gibbs sampler itself seeds from
the operating system and cannot be seeded, and fast_align with several OpenMP threads sums in a varying
order: two runs give slightly different links (GIZA++, and fast_align with ``threads=1``, do not).
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Sequence

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from alignment import canonical_heuristic, make_aligner, parse_links, symmetrize_all
from alignment.errors import InputError
from pipelines.align.options import AlignmentOptions
from pipelines.shards import CountingDoFn, count
from schemas.errors import InputDataError, UsageError

Links = tuple[tuple[int, int], ...]
_DEFAULTS = AlignmentOptions()  # AlignPairs' defaults: the alignment options' own (pipelines/align/options.py)


@dataclass(frozen=True)
class PairToAlign:
    """One word-tokenised sentence pair to align (element of ``AlignPairs``' input)."""

    key: str  # stable, unique id of the pair, e.g. "<corpus>:<line>"
    group: str  # language pair, e.g. "en-de"; models and batches never mix groups
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


class _Skip(CountingDoFn):
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


SampleItem = tuple[tuple[int, str], PairToAlign]  # ((seeded hash of the key, key), pair): unique, ordered


def _symmetrized(forward, reverse, heuristic: str) -> list[Links]:
    return [tuple((int(i), int(j)) for i, j in links) for links in symmetrize_all(forward, reverse, heuristic)]


def _count_unalignable(group: str, aligner, words: Sequence[tuple[list[str], list[str]]]) -> None:
    """Count the pairs the aligner will leave without links, by its reason (e.g. GIZA's length limits)."""
    for src, tgt in words:
        reason = aligner.cannot_align(len(src), len(tgt))
        if reason is not None:
            count(f"align.{group}.not_aligned.{reason}")


def _emit(group: str, pairs: Sequence[PairToAlign], all_links: Sequence[Links], source: str):
    """(key, links) for the emitted pairs; ``source`` ("sample" or "batches") names the counter."""
    for pair, links in zip(pairs, all_links):
        if not pair.emit:
            continue
        count(f"align.{group}.links_from_{source}")
        if not links:
            count(f"align.{group}.pairs_without_links")
        yield pair.key, links


class _AlignSample(CountingDoFn):
    """(group, sampled pairs) → (key, links) for the sample's emitted pairs, and (tagged ``model``)
    (group, the trained model's bytes) when the group has pairs outside the sample. Groups that fit one batch
    are left to the batch path."""

    MODEL = "model"

    def __init__(self, aligner: str, heuristic: str, options: dict, batch_size: int, lowercase: bool):
        self.aligner, self.heuristic, self.options = aligner, heuristic, options
        self.batch_size, self.lowercase = batch_size, lowercase

    def process(self, element: tuple[str, list[SampleItem]], sizes: dict[str, int]):
        group, sample = element
        if sizes[group] <= self.batch_size:  # one batch aligns everything together
            return
        pairs = [pair for _, pair in sorted(sample, key=lambda item: item[0])]
        needs_model = sizes[group] > len(pairs)
        if not needs_model and not any(pair.emit for pair in pairs):
            count(f"align.{group}.sample_not_aligned_nothing_to_emit")
            return
        words = [_words(pair, self.lowercase) for pair in pairs]
        aligner = make_aligner(self.aligner, **self.options)
        _count_unalignable(group, aligner, words)
        if needs_model:
            forward, reverse, model = aligner.train(words)
        else:
            forward, reverse = aligner.align_directional(words)
        count(f"align.{group}.sample_pairs_aligned", len(pairs))
        count(f"align.{group}.pairs_aligned", len(pairs))
        if needs_model:
            count(f"align.{group}.model_pairs", len(pairs))
            yield beam.pvalue.TaggedOutput(self.MODEL, (group, model))
        yield from _emit(group, pairs, _symmetrized(forward, reverse, self.heuristic), "sample")


class _AlignBatch(CountingDoFn):
    """((group, batch), pairs) → (key, links) for every emitted pair of the batch."""

    def __init__(self, aligner: str, heuristic: str, options: dict, lowercase: bool):
        self.aligner, self.heuristic, self.options, self.lowercase = aligner, heuristic, options, lowercase

    def process(self, element: tuple[tuple[str, int], Iterable[PairToAlign]], models: dict[str, bytes],
                sizes: dict[str, int]):
        (group, _), batch = element
        batch = sorted(batch, key=lambda pair: pair.key)  # the same order whatever the runner delivered
        if not any(pair.emit for pair in batch):  # aligning it could change nothing that is emitted
            count(f"align.{group}.batches_not_aligned_nothing_to_emit")
        else:
            yield from self._align(group, batch, models.get(group), sizes[group])

    def _align(self, group: str, batch: list[PairToAlign], model: bytes | None, group_size: int):
        aligner = make_aligner(self.aligner, **self.options)
        if model is not None:  # the sample's model, standing for the whole group
            aligner = aligner.with_model(model, group_size)
        words = [_words(pair, self.lowercase) for pair in batch]
        _count_unalignable(group, aligner, words)
        forward, reverse = aligner.align_directional(words)
        count(f"align.{group}.batches_aligned")
        count(f"align.{group}.pairs_aligned", len(batch))
        yield from _emit(group, batch, _symmetrized(forward, reverse, self.heuristic), "batches")


def read_keyed_links(path: str) -> Iterator[tuple[str, tuple[int, str]]]:
    """``KEY<TAB>links`` lines of a precomputed links file → (key, (line number, links text))."""
    with FileSystems.open(path) as handle:
        for number, raw in enumerate(handle, start=1):
            line = raw.decode("utf-8").rstrip("\r\n")
            if not line.strip():
                continue
            key, tab, links = line.partition("\t")
            if not tab:
                raise InputDataError(f"{path}, line {number}: expected 'KEY<TAB>i-j i-j ...' (a key, a tab, "
                                     "Pharaoh links)")
            yield key, (number, links)


class _JoinPrecomputed(CountingDoFn):
    def __init__(self, path: str):
        self.path = path

    def process(self, element: tuple[str, dict[str, list]]):
        key, joined = element
        pairs, lines = list(joined["pairs"]), sorted(joined["links"])
        if len(lines) > 1:
            raise InputDataError(f"{self.path}, line {lines[1][0]}: a second line for key {key!r}")
        if pairs and not lines:
            raise InputDataError(f"{self.path}: no links for pair {key!r}")
        if pairs:  # (lines for pairs not in this run are ignored)
            yield self._links(key, pairs[0], *lines[0])

    def _links(self, key: str, pair: PairToAlign, number: int, text: str) -> tuple[str, Links]:
        try:
            links = parse_links(text, lengths=(len(pair.src), len(pair.tgt)), path=self.path, lineno=number)
        except InputError as err:  # re-raised with one message argument, from which Beam can rebuild it
            raise InputDataError(str(err)) from None
        count(f"align.{pair.group}.pairs_aligned")
        if not links:
            count(f"align.{pair.group}.pairs_without_links")
        return key, tuple(links)


class AlignPairs(beam.PTransform):
    """PCollection[PairToAlign] → PCollection[(key, links)]: 0-based ``(src, tgt)`` links symmetrised with
    ``heuristic``, one output per input pair with ``emit=True``.

    ``aligner``: an ``alignment.make_aligner`` name, with ``aligner_options`` for its constructor (only those
    whose ``shares_model`` is true use a sample). ``priors_sample``: pairs per group aligned together on one
    worker, whose links are kept and whose model aligns the rest. ``batch_size``: pairs per batch (a group that
    fits is aligned in one go). ``lowercase``: align lower-cased words (the output indices are the same; rare
    capitalised words then share counts with their lower-case forms). Defaults: ``AlignmentOptions``'.
    """

    def __init__(self, aligner: str = _DEFAULTS.aligner, heuristic: str = _DEFAULTS.heuristic,
                 links_file: str | None = None, priors_sample: int = _DEFAULTS.priors_sample,
                 batch_size: int = _DEFAULTS.batch_size, seed: int = 0, aligner_options: dict | None = None,
                 lowercase: bool = _DEFAULTS.lowercase):
        super().__init__()
        if priors_sample < 1 or batch_size < 1:
            raise UsageError("priors_sample and batch_size must be at least 1")
        self.aligner = aligner
        self.heuristic = canonical_heuristic(heuristic)  # a typo fails at graph construction
        self.links_file = links_file
        self.priors_sample = priors_sample
        self.batch_size = batch_size
        self.seed = seed
        self.aligner_options = dict(aligner_options or {})
        self.lowercase = lowercase
        # An unknown aligner or a bad option fails now, at graph construction.
        self.shares_model = make_aligner(aligner, **self.aligner_options).shares_model

    @classmethod
    def from_options(cls, options: AlignmentOptions, seed: int = 0) -> "AlignPairs":
        """The transform a pipeline's AlignmentOptions describe."""
        return cls(aligner=options.aligner, heuristic=options.heuristic, links_file=options.links_file,
                   priors_sample=options.priors_sample, batch_size=options.batch_size, seed=seed,
                   aligner_options=options.aligner_options(), lowercase=options.lowercase)

    def expand(self, pairs):
        if self.links_file is not None:
            return self._expand_precomputed(pairs)
        checked = pairs | "SkipEmpty" >> beam.ParDo(_Skip()).with_outputs(_Skip.EMPTY, main="pairs")
        to_align = checked.pairs
        by_group = to_align | "ByGroup" >> beam.Map(lambda pair: (pair.group, pair))
        sizes = beam.pvalue.AsDict(by_group | "GroupSizes" >> beam.combiners.Count.PerKey())

        seed, batch_size, priors_sample = self.seed, self.batch_size, self.priors_sample
        outputs = [checked[_Skip.EMPTY]]
        if self.shares_model:
            sample = (by_group
                      | "HashForSample" >> beam.Map(
                          lambda kv: (kv[0], ((stable_hash(seed, kv[1].key), kv[1].key), kv[1])))
                      | "PriorsSample" >> beam.combiners.Top.SmallestPerKey(priors_sample, key=lambda item: item[0]))
            # The largest (hash, key) of each group's sample: a pair is in the sample iff its own is not larger.
            bounds = beam.pvalue.AsDict(
                sample | "SampleBounds" >> beam.Map(lambda kv: (kv[0], max(item[0] for item in kv[1]))))
            aligned_sample = sample | "AlignSample" >> beam.ParDo(
                _AlignSample(self.aligner, self.heuristic, self.aligner_options, batch_size, self.lowercase),
                sizes).with_outputs(_AlignSample.MODEL, main="links")
            models = beam.pvalue.AsDict(aligned_sample[_AlignSample.MODEL])
            outputs.append(aligned_sample.links)
        else:  # no model to hand on: no sample, every pair goes to a batch
            models = bounds = beam.pvalue.AsDict(pairs.pipeline | "NoModel" >> beam.Create([]))

        def to_batch(kv: tuple[str, PairToAlign], sizes: dict[str, int], bounds: dict[str, tuple[int, str]]):
            group, pair = kv
            size = sizes[group]
            if size > batch_size and group in bounds:  # the sample run aligns its own pairs
                if (stable_hash(seed, pair.key), pair.key) <= bounds[group]:
                    return
                size -= min(size, priors_sample)
            # A different hash from the sample's (seed + 1): the batches are not ordered by the sample's hash.
            yield (group, stable_hash(seed + 1, pair.key) % _n_batches(size, batch_size)), pair

        outputs.append(
            by_group
            | "AssignBatch" >> beam.FlatMap(to_batch, sizes, bounds)
            | "GroupBatches" >> beam.GroupByKey()
            | "AlignBatches" >> beam.ParDo(
                _AlignBatch(self.aligner, self.heuristic, self.aligner_options, self.lowercase), models, sizes))
        return outputs | "WithEmpty" >> beam.Flatten()

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
