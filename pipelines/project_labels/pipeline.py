"""The label-projection Beam graph: labelled source + translations → tagged rows per target language.

    source CoNLL ─ ReadSource ─┐
    translations[L] ─ Read ────┴ JoinSource[L] ─ pairs[L] ─┐
    extra parallel[L] ─ ReadExtra ─────────────────────────┴ AlignPairs ─ JoinLinks ─ Project ─ rows[L]

``build_pipeline(pipeline, config)`` adds the whole graph, its writers included (shards per language, the CoNLL
export, the links), to any pipeline (DirectRunner, Dataflow, Flink, Spark); ``projected_rows`` adds it up to the
rows of each target language, unwritten. Nothing here reads a file while the graph is built.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from pipelines.align.joining import align_pairs, join_links
from pipelines.project_labels.config import ExtraParallel, ProjectionConfig, Target
from pipelines.project_labels.projection import project
from pipelines.project_labels.translations import (SourceSentence, read_extra_parallel, read_lines, read_source,
                                                   tokenize_translation)
from pipelines.shards import CountingDoFn, WriteShards, count, count_drop
from pipelines.align.transforms import Links, PairToAlign, format_keyed_links
from schemas.conll import ConllStats, write_conll
from schemas.errors import UsageError
from schemas.tags import tags_from_spans


@dataclass(frozen=True)
class SentencePair:
    """A labelled source sentence and its translation's words, ready to align and project."""

    key: str  # "<lang>:<sentence index>", unique across the run (the AlignPairs key)
    lang: str
    corpus: str  # translations file name
    source_corpus: str  # source file name
    source: SourceSentence
    target: tuple[str, ...]


class ReadSource(CountingDoFn):
    """The source CoNLL path → (sentence index, SourceSentence)."""

    def __init__(self, config: ProjectionConfig):
        self.config = config

    def process(self, path: str):
        stats = ConllStats()
        spans = 0
        for sentence in read_source(path, self.config.encoding, self.config.tag_column, self.config.input_scheme,
                                    stats):
            spans += len(sentence.spans)
            yield sentence.index, sentence
        count("source_sentences", stats.sentences)
        count("source_spans", spans)
        count("source_docstart_lines", stats.documents)
        count("source_lines_with_missing_columns", stats.short_lines)


class JoinTranslation(CountingDoFn):
    """(index, {source, target}) → SentencePair; an empty translation is a counted drop."""

    def __init__(self, config: ProjectionConfig, target: Target):
        self.config, self.target = config, target

    def process(self, element: tuple[int, dict[str, list]]):
        index, joined = element
        sources, targets = list(joined["source"]), list(joined["target"])
        lang = self.target.lang
        if len(sources) != 1 or len(targets) != 1:  # the line counts were checked; this is a defect guard
            raise ValueError(f"sentence {index}: {len(sources)} source sentences in {self.config.source} but "
                             f"{len(targets)} translation lines in {self.target.translations}")
        if not targets[0]:
            count_drop(f"empty_translation.{lang}")
        else:
            yield SentencePair(key=f"{lang}:{index}", lang=lang,
                               corpus=os.path.basename(self.target.translations),
                               source_corpus=os.path.basename(self.config.source),
                               source=sources[0], target=targets[0])


class ReadExtra(CountingDoFn):
    """(number, ExtraParallel) → PairToAlign(emit=False) for every kept pair of its two files, keyed
    ``extra<number>:<line index>``."""

    def __init__(self, config: ProjectionConfig):
        self.config = config

    def process(self, element: tuple[int, ExtraParallel]):
        number, extra = element
        group, lang, keep = self.config.group(extra.lang), extra.lang, self.config.extra_filter
        kept = 0
        for index, src, tgt in read_extra_parallel(extra.src, extra.tgt):
            reason = keep.reason_to_drop(src, tgt)
            if reason is not None:
                count_drop(f"{reason}.{lang}")
                continue
            kept += 1
            yield PairToAlign(f"extra{number}:{index}", group, src, tgt, emit=False)
        count(f"extra_parallel_pairs.{lang}", kept)


class Project(CountingDoFn):
    """(pair, links) → one ``tagged`` row with the projected tags and the projection counts."""

    def __init__(self, config: ProjectionConfig):
        self.config = config

    def process(self, element: tuple[SentencePair, Links]):
        pair, links = element
        lang = pair.lang
        result = project(pair.source.spans, links, self.config.method, self.config.conflict)
        count(f"spans_projected.{lang}", result.projected)
        if result.lost_unaligned:
            count_drop(f"span_unaligned.{lang}", result.lost_unaligned)
        if result.lost_conflict:
            count_drop(f"span_conflict.{lang}", result.lost_conflict)
        if self.config.drop_incomplete and (result.lost_unaligned or result.lost_conflict):
            count_drop(f"incomplete_projection.{lang}")
            return
        count(f"sentences_projected.{lang}")
        index = pair.source.index
        yield {
            "id": f"{pair.corpus}:{index}",
            "lang": lang,
            "tokens": list(pair.target),
            "tags": tags_from_spans(len(pair.target), result.spans, self.config.output_scheme),
            "corpus": pair.corpus,
            "sentence_index": index,
            "source_id": f"{pair.source_corpus}:{index}",  # the id pipelines.import_conll gives that sentence
            "source_lang": self.config.src_lang,
            "projection": result.stats(),
        }


def _to_align(pair: SentencePair, group: str) -> PairToAlign:
    return PairToAlign(pair.key, group, pair.source.tokens, pair.target)


def projected_rows(pipeline: beam.Pipeline, config: ProjectionConfig) -> dict[str, beam.PCollection]:
    """Add the projection graph up to its rows to ``pipeline`` (the links file is written when
    ``config.links_out`` is set); the ``tagged`` rows of each target language, by language, unwritten."""
    langs = [target.lang for target in config.targets]
    if not langs or len(set(langs)) != len(langs):
        raise UsageError(f"target languages must be given once each, got {langs}")
    source = (pipeline
              | "SourceFile" >> beam.Create([config.source])
              | "ReadSource" >> beam.ParDo(ReadSource(config)))
    pairs = []
    for target in config.targets:
        lang = target.lang
        translations = (pipeline
                        | f"TranslationsFile[{lang}]" >> beam.Create([target.translations])
                        | f"ReadTranslations[{lang}]" >> beam.FlatMap(read_lines)
                        | f"Spread[{lang}]" >> beam.Reshuffle()  # tokenising is the slow part: spread it
                        | f"Tokenize[{lang}]" >> beam.MapTuple(
                            lambda index, text, lang=lang: (index, tokenize_translation(text, lang,
                                                                                        config.pretokenized))))
        pairs.append({"source": source, "target": translations}
                     | f"JoinSource[{lang}]" >> beam.CoGroupByKey()
                     | f"Pair[{lang}]" >> beam.ParDo(JoinTranslation(config, target)))
    all_pairs = pairs | "AllLanguages" >> beam.Flatten()
    extra = []
    if config.extra_parallel:
        extra.append(pipeline
                     | "ExtraFiles" >> beam.Create(list(enumerate(config.extra_parallel)))
                     | "ReadExtra" >> beam.ParDo(ReadExtra(config)))
    links = align_pairs(all_pairs, lambda pair: _to_align(pair, config.group(pair.lang)), config.alignment,
                        config.seed, extra=extra)
    if config.links_out is not None:  # the links used, reusable with links_file (re-project without aligning)
        (links
         | "FormatLinks" >> beam.MapTuple(format_keyed_links)
         | "WriteLinks" >> beam.io.WriteToText(config.links_out, num_shards=1, shard_name_template=""))
    rows = join_links(all_pairs, links) | "Project" >> beam.ParDo(Project(config))
    by_lang = rows | "ByLanguage" >> beam.Partition(lambda row, n: langs.index(row["lang"]), len(langs))
    return {lang: by_lang[n] for n, lang in enumerate(langs)}


def _write_conll_file(rows: list[dict], path: str) -> None:
    rows = sorted(rows, key=lambda row: row["sentence_index"])
    with FileSystems.create(path) as handle:
        handle.write(write_conll([(row["tokens"], row["tags"]) for row in rows]).encode("utf-8"))


def build_pipeline(pipeline: beam.Pipeline, config: ProjectionConfig) -> None:
    """Apply the whole graph to ``pipeline``: the rows of each language written as shards under OUTPUT/<lang>,
    with its CoNLL export when asked; nothing runs until the caller runs it (the pipelines' one contract, see
    ARCHITECTURE.md)."""
    _write_outputs(projected_rows(pipeline, config), config)


def _write_outputs(rows_by_lang: dict[str, beam.PCollection], config: ProjectionConfig) -> None:
    """Shards of each language under OUTPUT/<lang>, and its CoNLL export when asked (gathered on one worker:
    one ordered file)."""
    for lang, rows in rows_by_lang.items():
        rows | f"Write[{lang}]" >> WriteShards(config.output_dir(lang), "tagged", num_shards=config.num_shards)
        path = config.conll_path(lang)
        if path is not None:
            (rows
             | f"GatherConll[{lang}]" >> beam.combiners.ToList()
             | f"WriteConll[{lang}]" >> beam.Map(_write_conll_file, path))


def language_counters(counters: dict[str, int], lang: str, config: ProjectionConfig) -> dict[str, int]:
    """The counters of one target language (suffix ``.<lang>`` removed, ``align.<src>-<lang>.`` kept) and the
    run-wide ones (source_*), for that language's manifest."""
    others = [t.lang for t in config.targets if t.lang != lang]
    out = {}
    for name, value in counters.items():
        if name.endswith(f".{lang}"):
            out[name[:-len(lang) - 1]] = value
        elif any(name.endswith(f".{o}") or f".{config.group(o)}." in name for o in others):
            continue
        else:
            out[name] = value
    return out

