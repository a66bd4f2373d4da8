"""The report of a ``tagged`` dataset: gold CoNLL data (``pipelines.import_conll``) or tags projected onto a
translation (``pipelines.project_labels``, paper 002 §2.2).

Plots:
- ``entities_per_type``: entities per type, per language (read from the tags with conlleval's chunk rules).
- ``projection`` (projected data only): per target language, the source spans projected or lost
  (``lost_unaligned``: no target word linked to the span; ``lost_conflict``: its target words were taken by
  another span), and the sentences that lost any.
- ``lengths``: tokens per sentence, and entity lengths in tokens per type.
- ``entities_per_sentence``: how many entities a sentence has (0 included).
- ``drop_reasons``: the manifest's dropped-record counters.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

import numpy as np

from pipelines.report.common import (KEPT, LOST, LOST_OTHER, Figures, ReportKind, distribution, hbar_counts,
                                     label_bars, length_histogram, median, percent, plot_drop_reasons,
                                     series_height, stacked_hbar, stream_rows, table)
from schemas import Dataset
from schemas.errors import InputDataError
from schemas.tags import spans_from_tags

COLUMNS = ["id", "lang", "tokens", "tags", "projection"]
# Plots: longest entity and largest entity count with a bar of their own; larger ones share the last bar.
LAST_ENTITY_TOKENS, LAST_ENTITIES = 6, 8
LOSSES = ("lost_unaligned", "lost_conflict")
SENTENCE_OUTCOMES = ("all spans projected", "lost a span", "no source span")

PLOTS = ("entities_per_type", "projection", "lengths", "entities_per_sentence", "drop_reasons")


@dataclass
class Projection:
    """Projection counts of one target language, summed over its rows."""

    source_spans: int = 0
    projected: int = 0
    lost_unaligned: int = 0
    lost_conflict: int = 0
    sentences: Counter = field(default_factory=Counter)  # SENTENCE_OUTCOMES → rows


@dataclass
class Summary:
    rows: Counter = field(default_factory=Counter)  # per language
    tokens: int = 0
    entities: Counter = field(default_factory=Counter)  # (language, type) → entities
    entity_tokens: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))  # type → lengths
    sentence_tokens: Counter = field(default_factory=Counter)  # sentence length → sentences
    entities_per_sentence: Counter = field(default_factory=Counter)
    projection: dict[str, Projection] = field(default_factory=lambda: defaultdict(Projection))  # per language
    gold_rows: int = 0  # rows without projection counts
    dropped: dict[str, int] = field(default_factory=dict)
    tag_scheme: str = "BIOES"

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    def types(self) -> list[str]:
        return sorted({label for _, label in self.entities})


def _add_row(summary: Summary, row: dict) -> None:
    lang = row["lang"]
    summary.rows[lang] += 1
    summary.tokens += len(row["tokens"])
    summary.sentence_tokens[len(row["tokens"])] += 1
    spans = spans_from_tags(row["tags"])
    summary.entities_per_sentence[len(spans)] += 1
    for span in spans:
        summary.entities[lang, span.label] += 1
        summary.entity_tokens[span.label][span.end - span.start] += 1
    stats = row["projection"]
    if stats is None:
        summary.gold_rows += 1
        return
    projection = summary.projection[lang]
    for name in ("source_spans", "projected", *LOSSES):
        setattr(projection, name, getattr(projection, name) + stats[name])
    if not stats["source_spans"]:
        projection.sentences[SENTENCE_OUTCOMES[2]] += 1
    elif stats["lost_unaligned"] or stats["lost_conflict"]:
        projection.sentences[SENTENCE_OUTCOMES[1]] += 1
    else:
        projection.sentences[SENTENCE_OUTCOMES[0]] += 1


def summarize(dataset: Dataset) -> Summary:
    config = dataset.manifest.config
    summary = Summary(dropped=dict(dataset.manifest.dropped),
                      tag_scheme=str(config.get("tag_scheme") or config.get("output_scheme") or "BIOES"))
    for row in stream_rows(dataset, COLUMNS):
        try:
            _add_row(summary, row)
        except ValueError as err:  # a malformed tag: name the row, as `schemas validate` would
            raise InputDataError(f"{dataset.directory}: row {row['id']!r}: {err}") from None
    return summary


def _mean(counter: Counter) -> float:
    return sum(value * n for value, n in counter.items()) / max(1, sum(counter.values()))


def body(summary: Summary, dataset: Dataset) -> list[str]:
    rows = summary.total_rows
    entities = sum(summary.entities.values())
    projected_rows = rows - summary.gold_rows
    origin = ("gold tags" if not projected_rows else
              "projected tags" if not summary.gold_rows else f"{projected_rows} projected, {summary.gold_rows} gold")
    lines = [f"{rows} sentences, {summary.tokens} tokens, {entities} entities ({origin}, "
             f"{summary.tag_scheme} scheme).", ""]
    if not rows:
        return lines
    lines += [f"Sentence length: median {median(summary.sentence_tokens)}, longest {max(summary.sentence_tokens)} "
              "tokens.", ""]
    types, langs = summary.types(), sorted(summary.rows)
    lines += ["Entities per type and language:", ""]
    lines += table(["language", "sentences", *types, "all"],
                   [(lang, summary.rows[lang], *(summary.entities[lang, t] for t in types),
                     sum(summary.entities[lang, t] for t in types)) for lang in langs])
    if types:
        lines += ["", "Mean entity length in tokens: " + ", ".join(
            f"{t} {_mean(summary.entity_tokens[t]):.2f}" for t in types) + "."]
    if summary.projection:
        lines += ["", "## Projection", "",
                  "Source spans per target language: projected, or lost because no target word is linked to "
                  "them (`lost_unaligned`) or because their target words went to another span "
                  "(`lost_conflict`).", ""]
        lines += table(["language", "source spans", "projected", "lost_unaligned", "lost_conflict", "projected %",
                        "sentences that lost a span"],
                       [(lang, p.source_spans, p.projected, p.lost_unaligned, p.lost_conflict,
                         percent(p.projected, p.source_spans), p.sentences[SENTENCE_OUTCOMES[1]])
                        for lang, p in sorted(summary.projection.items())])
    return lines + [""]


def plot(summary: Summary, figures: Figures) -> None:
    langs, types = sorted(summary.rows), summary.types()
    if types:
        fig, (ax,) = figures.new(width=7, height=1.4 + 0.4 * len(types) * max(1, len(langs) / 2))
        if len(langs) == 1:
            hbar_counts(ax, {t: summary.entities[langs[0], t] for t in types},
                        f"Entities per type ({langs[0]})", "entities")
        else:
            height = 0.8 / len(langs)
            y = np.arange(len(types))
            for n, lang in enumerate(langs):
                values = [summary.entities[lang, t] for t in types]
                label_bars(ax, ax.barh(y + n * height, values, height, label=lang), values)
            ax.set_yticks(y + height * (len(langs) - 1) / 2, types)
            ax.invert_yaxis()
            ax.margins(x=0.15)
            ax.legend(fontsize=8)
            ax.set(title="Entities per type and language", xlabel="entities")
        figures.save(fig, "entities_per_type", "Entities per type and language")

    if summary.projection:
        names = sorted(summary.projection)
        projection = [summary.projection[n] for n in names]
        fig, axes = figures.new(2, width=11, height=2.1 + 0.45 * len(names))
        stacked_hbar(axes[0], names, [("projected", [p.projected for p in projection], KEPT),
                                      ("lost_unaligned", [p.lost_unaligned for p in projection], LOST),
                                      ("lost_conflict", [p.lost_conflict for p in projection], LOST_OTHER)],
                     "Source spans: projected or lost", "% of the source spans", as_share=True)
        stacked_hbar(axes[1], names, [(outcome, [p.sentences[outcome] for p in projection], colour)
                                      for outcome, colour in zip(SENTENCE_OUTCOMES, (KEPT, LOST, "tab:gray"))],
                     "Sentences", "% of the sentences", as_share=True)
        figures.save(fig, "projection", "Projection: spans projected or lost, per target language")

    if summary.total_rows:
        fig, axes = figures.new(2, width=11, height=series_height(len(types)))
        length_histogram(axes[0], summary.sentence_tokens, "Sentence length", "tokens", "sentences")
        if types:
            distribution(axes[1], {t: summary.entity_tokens[t] for t in types}, LAST_ENTITY_TOKENS, 1,
                         "Entity length", "tokens", unit="entities", series_name="type")
        else:
            axes[1].set_axis_off()
        figures.save(fig, "lengths", "Sentence and entity lengths in tokens")

        fig, (ax,) = figures.new()
        distribution(ax, {"all": summary.entities_per_sentence}, LAST_ENTITIES, 0, "Entities per sentence",
                     "entities in the sentence", color="tab:purple", unit="sentences")
        figures.save(fig, "entities_per_sentence", "Entities per sentence")

    plot_drop_reasons(figures, summary.dropped, "Dropped by reason", "count (span_* reasons: spans)")


REPORT = ReportKind("tagged", "Tagged dataset", summarize, body, plot, rows=lambda summary: summary.total_rows,
                    plots=PLOTS)
