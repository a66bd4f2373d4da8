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

import dataclasses
from dataclasses import dataclass, field
from typing import Iterator

import apache_beam as beam

from pipelines.align.options import PIPELINE_DEFAULTS, AlignmentOptions
from pipelines.clism.parallel_input import CorpusSpec, RawPair, ReadPolicy, read_corpus
from pipelines.clism.prepare import PreparedPair, PrepareOptions, prepare_pair
from pipelines.clism.rows import build_row
from pipelines.clism.spans import (MAX_SPAN_WORDS, FilterSpans, FindEntities, SpanRules, count_span_drop,
                                   model_for)
from pipelines.shards import CountingDoFn, WriteShards, count, count_drop
from pipelines.tokenize import SUPPORTED_LANGUAGES
from pipelines.align.transforms import AlignPairs, PairToAlign
from schemas.errors import UsageError

QUE_TOKEN = "[QUE]"


@dataclass
class ClismConfig:
    """Everything a run depends on (written into the manifest)."""

    corpora: list[CorpusSpec]
    output: str | None = None  # dataset directory; None: build_pipeline returns the rows without writing
    num_shards: int = 0
    ner_models: dict[str, str] = field(default_factory=dict)  # source language (or "*") → spaCy model
    entity_labels: tuple[str, ...] | None = None
    max_span_words: int = MAX_SPAN_WORDS
    que_token: str = QUE_TOKEN
    html_unescape: bool = True
    pretokenized: bool = False
    max_words: int = 100
    max_chars: int = 1000
    on_length_mismatch: str = "error"
    on_malformed: str = "error"
    conll_encoding: str = "utf-8"
    alignment: AlignmentOptions = PIPELINE_DEFAULTS["clism"]
    align_spanless_pairs: bool = True
    seed: int = 0
    ner_batch_size: int = 256

    def __post_init__(self):
        self.corpora = [c if isinstance(c, CorpusSpec) else CorpusSpec(**c) for c in self.corpora]
        if isinstance(self.alignment, dict):
            self.alignment = AlignmentOptions(**self.alignment)
        if self.entity_labels is not None:
            self.entity_labels = tuple(self.entity_labels)
        self.validate()

    @property
    def policy(self) -> ReadPolicy:
        return ReadPolicy(self.on_length_mismatch, self.on_malformed, self.conll_encoding)

    @property
    def prepare_options(self) -> PrepareOptions:
        return PrepareOptions(self.html_unescape, self.pretokenized, self.max_words, self.max_chars,
                              self.que_token)

    @property
    def span_rules(self) -> SpanRules:
        return SpanRules(self.max_span_words,
                         None if self.entity_labels is None else frozenset(self.entity_labels))

    def input_files(self) -> list[str]:
        return sorted({path for corpus in self.corpora for path in corpus.paths}
                      | ({self.alignment.links_file} if self.alignment.links_file else set()))

    def validate(self) -> None:
        labelled = [c for c in self.corpora if not c.align_only]
        if not labelled:
            raise UsageError("no corpus to build rows from: give --src/--tgt, --tsv, --joint, --source-spans "
                             "or --corpus")
        names: dict[tuple[str, str], CorpusSpec] = {}
        for corpus in self.corpora:
            other = names.setdefault((corpus.group, corpus.name), corpus)
            if other is not corpus:
                raise UsageError(f"two {corpus.group} corpora are both named {corpus.name!r} ({other.paths[0]} and "
                                 f"{corpus.paths[0]}); their ids would clash: add name=OTHER to one of them")
        groups = {c.group for c in labelled}
        for corpus in self.corpora:
            if corpus.align_only and corpus.group not in groups:
                raise UsageError(f"extra corpus {corpus.paths[0]} is {corpus.group}, but no labelled corpus is: "
                                 "extra pairs only help align pairs of their own language pair")
            if not self.pretokenized:
                langs = [corpus.tgt_lang] + ([corpus.src_lang] if corpus.format != "conll" else [])
                for lang in langs:
                    if lang not in SUPPORTED_LANGUAGES:
                        raise UsageError(f"no word tokenizer for {lang!r} (corpus {corpus.paths[0]}): pass "
                                         f"--pretokenized for tokenised text, or use one of "
                                         f"{' '.join(SUPPORTED_LANGUAGES)}")
            if (not corpus.align_only and corpus.format != "conll"
                    and model_for(self.ner_models, corpus.src_lang) is None):
                raise UsageError(f"corpus {corpus.paths[0]} has no gold spans and there is no --ner-model for "
                                 f"its source language {corpus.src_lang!r}")
        if not self.que_token or self.que_token.strip() != self.que_token:
            raise UsageError(f"--que-token {self.que_token!r} must be non-empty without surrounding spaces")
        for name in ("max_words", "max_chars", "max_span_words", "ner_batch_size"):
            if getattr(self, name) < 1:
                raise UsageError(f"{name} must be at least 1")
        self.policy  # checks the policy names

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["corpora"] = [dict(dataclasses.asdict(c), paths=list(c.paths)) for c in self.corpora]
        return out


class ReadCorpora(CountingDoFn):
    """A corpus spec → its raw pairs, in order (one reader per corpus: line numbers need a sequential pass)."""

    def __init__(self, policy: ReadPolicy):
        self.policy = policy

    def process(self, spec: CorpusSpec) -> Iterator[RawPair]:
        prefix = "extra_" if spec.align_only else ""
        drop = (lambda reason, n: count(f"extra_pairs_unusable.{reason}", n)) if spec.align_only else count_drop
        pairs = 0
        for raw in read_corpus(spec, self.policy, count=count, drop=drop):
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
        if raw.align_only:
            drop = lambda reason, n: count(f"extra_pairs_unusable.{reason}", n)  # noqa: E731
        else:
            drop = count_drop
        pair = prepare_pair(raw, self.options, drop, count)
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
    """(key, {pair, links}) → the CLISM row, or a counted drop."""

    def __init__(self, que_token: str):
        self.que_token = que_token

    def process(self, element) -> Iterator[dict]:
        key, joined = element
        pairs, links = list(joined["pair"]), list(joined["links"])
        if not pairs:
            return
        if len(pairs) != 1 or len(links) != 1:  # ids are unique and AlignPairs emits once per pair
            raise ValueError(f"pair {key!r}: {len(pairs)} pair(s) and {len(links)} link set(s) joined; "
                             "ids must be unique")
        row = build_row(pairs[0], links[0], self.que_token, count_drop, count, count_span_drop)
        if row is not None:
            count(f"rows.{row['src_lang']}-{row['tgt_lang']}")
            yield row


def build_pipeline(pipeline: beam.Pipeline, config: ClismConfig):
    """Add the CLISM graph to ``pipeline``; returns the rows' PCollection (written to ``config.output`` as
    Parquet shards when it is set). Nothing runs until the caller runs the pipeline, on any runner."""
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
    links = (to_align
             | "ToAlign" >> beam.Map(_to_align)
             | "AlignPairs" >> AlignPairs.from_options(config.alignment, config.seed))
    keyed = (pairs
             | "PairsWithSpans" >> beam.Filter(lambda pair: not pair.align_only)
             | "KeyPairs" >> beam.Map(lambda pair: (pair.key, pair)))
    rows = ({"pair": keyed, "links": links}
            | "JoinLinks" >> beam.CoGroupByKey()
            | "BuildRows" >> beam.ParDo(BuildRows(config.que_token)))
    if config.output:
        rows | "Write" >> WriteShards(config.output, "clism", num_shards=config.num_shards)
    return rows
