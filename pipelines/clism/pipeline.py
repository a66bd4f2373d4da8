"""The Beam graph: parallel corpora → CLISM rows (paper 000, §3.1 and §4.1).

    corpora ─ ReadCorpora ─ SpreadPairs ─ Prepare ─┬─ gold spans / extra pairs ───────────┐
                                                   └─ BatchForNer ─ FindEntities (spaCy) ─┴─ FilterSpans ─┐
                  ┌─────────────────────────────────────────────────────────────────────────────────────┘
                  ├─ every pair ─ ToAlign ─ AlignPairs (per language pair: priors, then batches) ─┐
                  └─ pairs with spans ─ KeyPairs ─────────────────────────────────────────────────┴─ JoinLinks
                                                                                 ─ BuildRows ─ WriteShards

Alignment is a corpus-level model: every usable pair (also those without a span, and the extra unlabelled
corpora) helps estimate it, but only pairs with spans get links back (``PairToAlign.emit``). Reading is one
worker per corpus (line numbers need a sequential pass); everything after ``SpreadPairs`` is parallel.
Ids are ``<src>-<tgt>:<corpus name>:<line>``: the same rows on every runner, apart from eflomal's own
sampler, which cannot be seeded.
"""
from __future__ import annotations

from typing import Iterator

import apache_beam as beam

from pipelines.align.joining import align_pairs, drop_counter, join_links
from pipelines.align.transforms import Links, PairToAlign
from pipelines.clism.config import ClismConfig
from pipelines.clism.parallel_input import CorpusSpec, RawPair, ReadPolicy, read_corpus
from pipelines.clism.prepare import PreparedPair, PrepareOptions, prepare_pair
from pipelines.clism.rows import build_row
from pipelines.clism.spans import FilterSpans, FindEntities, count_span_drop
from pipelines.shards import CountingDoFn, WriteShards, count, count_drop


class ReadCorpora(CountingDoFn):
    """A corpus spec → its raw pairs, in order (one reader per corpus: line numbers need a sequential pass)."""

    def __init__(self, policy: ReadPolicy):
        self.policy = policy

    def process(self, spec: CorpusSpec) -> Iterator[RawPair]:
        prefix = "extra_" if spec.align_only else ""
        pairs = 0
        for raw in read_corpus(spec, self.policy, count=count, drop=drop_counter(spec.align_only)):
            pairs += 1
            yield raw
        count(f"{prefix}pairs_read", pairs)
        count(f"{prefix}pairs_read.{spec.group}", pairs)
        count("corpora_read")


class Prepare(CountingDoFn):
    """A raw pair → the cleaned, tokenised pair (or a counted drop). Pairs that still need NER go to ``ner``."""

    NER = "ner"

    def __init__(self, options: PrepareOptions):
        self.options = options

    def process(self, raw: RawPair):
        pair = prepare_pair(raw, self.options, drop_counter(raw.align_only), count)
        if pair is None:
            return
        usable = "extra_pairs_usable" if pair.align_only else "pairs_usable"
        count(usable)
        count(f"{usable}.{pair.group}")
        if not pair.align_only and pair.spans is None:
            yield beam.pvalue.TaggedOutput(self.NER, pair)
        else:
            yield pair


def _to_align(pair: PreparedPair) -> PairToAlign:
    return PairToAlign(key=pair.key, group=pair.group, src=pair.source_tokens(), tgt=pair.target_tokens(),
                       emit=not pair.align_only)


class BuildRows(CountingDoFn):
    """(pair, links) → the CLISM row, or a counted drop."""

    def __init__(self, que_token: str):
        self.que_token = que_token

    def process(self, element: tuple[PreparedPair, Links]) -> Iterator[dict]:
        pair, links = element
        row = build_row(pair, links, self.que_token, count_drop, count, count_span_drop)
        if row is not None:
            count(f"rows.{row['src_lang']}-{row['tgt_lang']}")
            yield row


def clism_rows(pipeline: beam.Pipeline, config: ClismConfig) -> beam.PCollection:
    """Add the CLISM graph up to its rows to ``pipeline``, without writing them; the rows' PCollection."""
    prepared = (pipeline
                | "Corpora" >> beam.Create(config.corpora)
                | "ReadCorpora" >> beam.ParDo(ReadCorpora(config.policy))
                | "SpreadPairs" >> beam.Reshuffle()
                | "Prepare" >> beam.ParDo(Prepare(config.prepare_options)).with_outputs(Prepare.NER, main="ready"))
    with_spans = [prepared.ready]
    if config.ner_models:
        with_spans.append(prepared[Prepare.NER]
                          | "BatchForNer" >> beam.BatchElements(min_batch_size=8,
                                                                max_batch_size=config.ner_batch_size)
                          | "FindEntities" >> beam.ParDo(FindEntities(config.ner_models, config.ner_batch_size)))
    pairs = (with_spans
             | "AllPairs" >> beam.Flatten()
             | "FilterSpans" >> beam.ParDo(FilterSpans(config.span_rules)))

    to_align = pairs
    if not config.align_spanless_pairs:
        to_align = pairs | "OnlyPairsWithSpans" >> beam.Filter(lambda pair: not pair.align_only)
    links = align_pairs(to_align, _to_align, config.alignment, config.seed)
    labelled = pairs | "PairsWithSpans" >> beam.Filter(lambda pair: not pair.align_only)
    return join_links(labelled, links) | "BuildRows" >> beam.ParDo(BuildRows(config.que_token))


def build_pipeline(pipeline: beam.Pipeline, config: ClismConfig) -> None:
    """Apply the whole graph, rows written as Parquet shards to ``config.output``, to ``pipeline``; nothing runs
    until the caller runs it (the pipelines' one contract, see ARCHITECTURE.md)."""
    if not config.output:
        raise ValueError("build_pipeline writes the rows: give ClismConfig.output (clism_rows gives them unwritten)")
    clism_rows(pipeline, config) | "Write" >> WriteShards(config.output, "clism", num_shards=config.num_shards)
