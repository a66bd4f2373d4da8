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

from pipelines.align.joining import align_pairs, drop_counter, join_links
from pipelines.align.options import PIPELINE_DEFAULTS, AlignmentOptions
from pipelines.align.transforms import Links, PairToAlign
from pipelines.clism.parallel_input import (LENGTH_POLICIES, MALFORMED_POLICIES, CorpusSpec, RawPair, ReadPolicy,
                                            read_corpus)
from pipelines.clism.prepare import PreparedPair, PrepareOptions, prepare_pair
from pipelines.clism.rows import build_row
from pipelines.clism.spans import (MAX_SPAN_WORDS, FilterSpans, FindEntities, SpanRules, count_span_drop,
                                   model_for)
from pipelines.config_arguments import flag
from pipelines.shards import CountingDoFn, WriteShards, count, count_drop
from pipelines.tokenize import SUPPORTED_LANGUAGES
from schemas.errors import UsageError

QUE_TOKEN = "[QUE]"


@dataclass
class ClismConfig:
    """Everything a run depends on (written into the manifest). Each option's default and help are written here
    once: the command's flags are made from these fields (pipelines/config_arguments.py)."""

    corpora: list[CorpusSpec]
    output: str | None = None  # dataset directory (build_pipeline writes there; clism_rows needs none)
    num_shards: int = flag(0, "number of shards (0: the runner decides)", show_default=False)
    ner_models: dict[str, str] = field(default_factory=dict)  # source language (or "*") → spaCy model
    entity_labels: tuple[str, ...] | None = None
    max_span_words: int = flag(MAX_SPAN_WORDS, "longest span kept, in words (paper: 10)", show_default=False)
    que_token: str = flag(QUE_TOKEN, f"string replacing each span (default {QUE_TOKEN})")
    html_unescape: bool = flag(True, "keep HTML character references (&apos; ...) as they are",
                               name="--no-html-unescape")
    pretokenized: bool = flag(False, "input is tokenised: words are whitespace-separated tokens (Moses output, "
                                     "CoNLL)")
    max_words: int = flag(100, "drop pairs with a longer sentence, in words (default 100)")
    max_chars: int = flag(1000, "drop pairs with a longer sentence, in characters", show_default=False)
    on_length_mismatch: str = flag("error", "files of different lengths: stop (default) or pair up to the shorter "
                                            "one, counting the rest", choices=LENGTH_POLICIES)
    on_malformed: str = flag("error", "a TSV/joint line without exactly one separator: stop (default) or skip it, "
                                      "counted", choices=MALFORMED_POLICIES)
    conll_encoding: str = flag("utf-8", "encoding of --source-spans files (CoNLL-2002: latin-1)",
                               show_default=False)
    alignment: AlignmentOptions = PIPELINE_DEFAULTS["clism"]
    align_spanless_pairs: bool = flag(True, "align only pairs that have spans (faster; by default every usable "
                                            "pair helps the model)", name="--align-only-spanned")
    seed: int = flag(0, "seed of sampling and batching (eflomal itself cannot be seeded)", show_default=False)
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
