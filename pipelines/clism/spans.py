"""Informative spans of the source sentence (paper 000, §3.1 and Appendix B): named entities from a spaCy
pipeline, or gold spans read with the corpus, then the paper's filters.

NER runs on the pipeline's own words: each sentence becomes a spaCy ``Doc`` built from those words, so every
entity starts and ends on a word boundary by construction (Appendix B's second rule) and maps one to one onto
the words the aligner sees. Filters (each drop counted):

- a span made only of stop words (spaCy's list for the source language) or punctuation is dropped; an
  all-capital word of two or more letters is an acronym ("US", "WHO"), not the stop word it spells;
- a span longer than ``max_span_words`` words (paper: 10) is dropped;
- with ``labels``, a span of another entity type is dropped;
- a sentence left with no span is dropped (footnote 1); its pair still helps estimate the alignment model.

Span drops are counters ``spans_dropped.<reason>``; pair drops are the manifest's ``dropped``.
"""
from __future__ import annotations

import dataclasses
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Iterable, Iterator, Sequence

import apache_beam as beam

from pipelines.clism.prepare import PreparedPair, WordSpan
from pipelines.shards import CountingDoFn, count, count_drop
from pipelines.clism.config import MAX_SPAN_WORDS
from schemas.errors import UsageError
# Components NER never needs: leaving them out makes a full pipeline (en_core_web_sm) several times faster.
_UNNEEDED_FACTORIES = frozenset({"tagger", "parser", "attribute_ruler", "lemmatizer", "trainable_lemmatizer",
                                 "morphologizer", "senter", "sentencizer", "textcat", "textcat_multilabel",
                                 "entity_linker", "spancat", "coref", "span_resolver"})
ANY_LANGUAGE = "*"

Drop = Callable[[str, int], None]


def count_span_drop(reason: str, value: int = 1) -> None:
    """A span is not a record: its drops are counters (``spans_dropped.<reason>``), so the manifest's
    ``dropped`` stays a count of pairs."""
    count(f"spans_dropped.{reason}", value)


@lru_cache(maxsize=None)
def stop_words(lang: str) -> frozenset[str]:
    """spaCy's stop words of ``lang``, lower-cased (empty for a language spaCy does not know)."""
    import spacy.util
    try:
        return frozenset(word.lower() for word in spacy.util.get_lang_class(lang).Defaults.stop_words)
    except Exception:  # spaCy raises ImportError for an unknown code
        return frozenset()


def is_punctuation(token: str) -> bool:
    return all(unicodedata.category(char)[0] in "PS" for char in token)


def is_stop_word(token: str, stops: frozenset[str]) -> bool:
    if len(token) > 1 and token.isupper():  # an acronym: "US" is not "us"
        return False
    return token.lower() in stops


@dataclass(frozen=True)
class SpanRules:
    """Appendix B's filters; ``labels`` keeps only spans of those types (None: every type)."""

    max_span_words: int = MAX_SPAN_WORDS
    labels: frozenset[str] | None = None

    def __post_init__(self):
        if self.max_span_words < 1:
            raise ValueError("max_span_words must be at least 1")


def select_spans(tokens: Sequence[str], spans: Iterable[WordSpan], lang: str, rules: SpanRules,
                 drop: Drop) -> tuple[WordSpan, ...]:
    """The spans that pass the filters, in sentence order, overlapping ones removed (the first kept); each
    other span is reported as ``drop(reason, 1)``."""
    stops = stop_words(lang)
    kept: list[WordSpan] = []
    for start, end, label in sorted(spans, key=lambda span: (span[0], span[1])):
        if not 0 <= start < end <= len(tokens):
            drop("outside_sentence", 1)
        elif rules.labels is not None and label not in rules.labels:
            drop("label_not_selected", 1)
        elif end - start > rules.max_span_words:
            drop("over_max_words", 1)
        elif all(is_stop_word(token, stops) or is_punctuation(token) for token in tokens[start:end]):
            drop("only_stop_words", 1)
        elif kept and start < kept[-1][1]:
            drop("overlaps_another", 1)
        else:
            kept.append((start, end, label))
    return tuple(kept)


class FilterSpans(CountingDoFn):
    """A pair with its candidate spans → the pair with the spans that pass; a sentence left without spans
    becomes an alignment-only pair (counted as ``no_source_span``)."""

    def __init__(self, rules: SpanRules):
        self.rules = rules

    def process(self, pair: PreparedPair) -> Iterator[PreparedPair]:
        if pair.align_only:
            yield pair
            return
        candidates = pair.spans or ()
        count("spans_found", len(candidates))
        spans = select_spans(pair.source_tokens(), candidates, pair.src_lang, self.rules, count_span_drop)
        count("spans_selected", len(spans))
        if not spans:
            count_drop("no_source_span")
            yield dataclasses.replace(pair, spans=(), align_only=True)
            return
        yield dataclasses.replace(pair, spans=spans)


def parse_ner_models(values: Sequence[str]) -> dict[str, str]:
    """``--ner-model`` values, ``NAME_OR_PATH`` (any source language) or ``LANG=NAME_OR_PATH`` → {lang: model}."""
    models: dict[str, str] = {}
    for value in values:
        lang, eq, model = value.partition("=")
        if not eq or "/" in lang or "\\" in lang or not lang:
            lang, model = ANY_LANGUAGE, value
        if lang in models:
            raise UsageError(f"--ner-model given twice for {lang if lang != ANY_LANGUAGE else 'every language'}")
        models[lang] = model
    return models


def model_for(models: dict[str, str], lang: str) -> str | None:
    return models.get(lang, models.get(ANY_LANGUAGE))


def load_ner(name_or_path: str):
    """A spaCy pipeline by package name (``en_core_web_sm``) or directory, with only what NER needs."""
    import spacy
    try:
        nlp = spacy.load(name_or_path)
    except OSError as err:
        raise FileNotFoundError(
            f"cannot load spaCy model {name_or_path!r}: install it on every worker (python -m spacy download "
            f"{name_or_path} on a connected machine, or ship it in the worker image) or pass a model directory "
            f"({str(err).splitlines()[0]})") from None
    unneeded = [name for name in nlp.pipe_names if nlp.get_pipe_meta(name).factory in _UNNEEDED_FACTORIES]
    if unneeded:
        nlp.select_pipes(disable=unneeded)
    if not nlp.has_pipe("ner") and not any(nlp.get_pipe_meta(n).factory in ("entity_ruler", "span_ruler",
                                                                              "ner", "beam_ner")
                                           for n in nlp.pipe_names):
        raise UsageError(f"spaCy model {name_or_path!r} has no NER component (pipes: {nlp.pipe_names})")
    return nlp


def entities(nlp, pairs: Sequence[PreparedPair], batch_size: int = 256) -> list[tuple[WordSpan, ...]]:
    """The entities spaCy finds in each pair's source, as word spans over the pair's own words."""
    from spacy.tokens import Doc
    docs = []
    for pair in pairs:
        words = pair.source_words
        tokens = [pair.source[a:b] for a, b in words]
        spaces = [words[n][1] < words[n + 1][0] for n in range(len(words) - 1)] + [False]
        docs.append(Doc(nlp.vocab, words=tokens, spaces=spaces))
    return [tuple((ent.start, ent.end, ent.label_) for ent in doc.ents)
            for doc in nlp.pipe(docs, batch_size=batch_size)]


class FindEntities(CountingDoFn):
    """A batch of pairs → each pair with the entities of its source. The spaCy pipelines are loaded once per
    worker, in ``setup``."""

    def __init__(self, models: dict[str, str], batch_size: int = 256):
        self.models = dict(models)
        self.batch_size = batch_size

    def setup(self):
        self.loaded = {model: load_ner(model) for model in sorted(set(self.models.values()))}

    def process(self, batch: list[PreparedPair]) -> Iterator[PreparedPair]:
        by_model: dict[str, list[PreparedPair]] = {}
        for pair in batch:
            model = model_for(self.models, pair.src_lang)
            if model is None:  # checked when the graph is built; a guard for hand-built inputs
                raise UsageError(f"no --ner-model for source language {pair.src_lang!r} ({pair.key})")
            by_model.setdefault(model, []).append(pair)
        for model, pairs in sorted(by_model.items()):
            for pair, found in zip(pairs, entities(self.loaded[model], pairs, self.batch_size)):
                yield dataclasses.replace(pair, spans=found)
        count("sentences_ner", len(batch))
