"""The report of an ``mrc`` dataset (mPMR Wiki Anchor Extraction triplets, paper 001 §2.2).

Plots:
- ``answer_position``: where answers start, relative to the context length. mPMR's stochastic answer
  position should make this flat; a hump in the middle is the position bias it avoids.
- ``lengths``: query and context lengths in whitespace-separated words (characters for languages
  written without spaces would be the better unit; the plot says which it shows).
- ``answers_per_example``: 0 for unanswerable examples, ≥ 1 otherwise.
- ``examples_per_language``: answerable and unanswerable examples per language.
- ``drop_reasons``: the manifest's dropped-record counters (nothing silently lost).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from pipelines.report.common import (KEPT, LOST_OTHER, NEUTRAL, Figures, ReportKind, label_bars, length_histogram,
                                     plot_drop_reasons, stacked_hbar, stream_rows, table)
from schemas import Dataset

COLUMNS = ["lang", "query", "context", "answers"]
# Fewer answers than this and a test of uniformity says nothing.
MIN_ANSWERS_FOR_TEST = 20

PLOTS = ("answer_position", "lengths", "answers_per_example", "examples_per_language", "drop_reasons")


@dataclass
class Summary:
    rows: int = 0
    answerable: Counter = field(default_factory=Counter)  # per language
    unanswerable: Counter = field(default_factory=Counter)
    answer_positions: list[float] = field(default_factory=list)  # answer start / context length
    answers_per_example: Counter = field(default_factory=Counter)
    query_words: list[int] = field(default_factory=list)
    context_words: list[int] = field(default_factory=list)
    dropped: dict[str, int] = field(default_factory=dict)


def summarize(dataset: Dataset) -> Summary:
    summary = Summary(dropped=dict(dataset.manifest.dropped))
    for row in stream_rows(dataset, COLUMNS):
        summary.rows += 1
        answers = row["answers"] or []
        (summary.answerable if answers else summary.unanswerable)[row["lang"]] += 1
        summary.answers_per_example[len(answers)] += 1
        length = max(1, len(row["context"]))
        summary.answer_positions.extend(a["start"] / length for a in answers)
        summary.query_words.append(len(row["query"].split()))
        summary.context_words.append(len(row["context"].split()))
    return summary


def uniformity(positions: list[float]) -> str:
    if len(positions) < MIN_ANSWERS_FOR_TEST:
        return f"too few answers to test ({len(positions)}, fewer than {MIN_ANSWERS_FOR_TEST})"
    from scipy import stats  # scipy comes with the pipelines' dependencies (spaCy); imported only here
    p = stats.kstest(np.asarray(positions), "uniform").pvalue
    verdict = "consistent with uniform" if p > 1e-3 else "NOT uniform: check for position bias"
    return f"Kolmogorov-Smirnov against uniform: p = {p:.3g} ({verdict})"


def body(summary: Summary, dataset: Dataset) -> list[str]:
    langs = sorted(set(summary.answerable) | set(summary.unanswerable))
    lines = [f"{summary.rows} examples: {sum(summary.answerable.values())} answerable, "
             f"{sum(summary.unanswerable.values())} unanswerable.", ""]
    if not summary.rows:
        return lines
    lines += table(["language", "answerable", "unanswerable"],
                   [(lang, summary.answerable[lang], summary.unanswerable[lang]) for lang in langs])
    q, c = np.asarray(summary.query_words), np.asarray(summary.context_words)
    lines += ["", f"Query length (whitespace words): median {np.median(q):.0f}, max {q.max()}. "
              f"Context length: median {np.median(c):.0f}, max {c.max()}.",
              "", f"Answer start positions over the context: {uniformity(summary.answer_positions)}.",
              "", "Answers per example: " + ", ".join(f"{k}: {v}" for k, v in
                                                      sorted(summary.answers_per_example.items())) + ".", ""]
    return lines


def plot(summary: Summary, figures: Figures) -> None:
    if summary.rows:
        fig, (ax,) = figures.new()
        ax.hist(summary.answer_positions, bins=20, range=(0, 1), color=NEUTRAL)
        if summary.answer_positions:
            ax.axhline(len(summary.answer_positions) / 20, color="black", linestyle="--", label="uniform")
            ax.legend()
        ax.set(title="Answer start position", xlabel="start / context length", ylabel="answers")
        figures.save(fig, "answer_position", "Answer start positions over the context")

        fig, axes = figures.new(2, width=9)
        length_histogram(axes[0], Counter(summary.query_words), "Query length", "whitespace-separated words",
                         "examples", color="tab:green")
        length_histogram(axes[1], Counter(summary.context_words), "Context length", "whitespace-separated words",
                         color="tab:orange")
        figures.save(fig, "lengths", "Query and context lengths")

        fig, (ax,) = figures.new()
        keys = sorted(summary.answers_per_example)
        values = [summary.answers_per_example[k] for k in keys]
        label_bars(ax, ax.bar([str(k) for k in keys], values, color="tab:purple"), values)
        ax.margins(y=0.15)
        ax.set(title="Answers per example", xlabel="answers (0 = unanswerable)", ylabel="examples")
        figures.save(fig, "answers_per_example", "Answers per example")

        langs = sorted(set(summary.answerable) | set(summary.unanswerable))
        fig, (ax,) = figures.new(width=7, height=1.6 + 0.45 * len(langs))
        stacked_hbar(ax, langs, [("answerable", [summary.answerable[lang] for lang in langs], KEPT),
                                 ("unanswerable", [summary.unanswerable[lang] for lang in langs], LOST_OTHER)],
                     "Examples per language", "examples")
        figures.save(fig, "examples_per_language", "Answerable and unanswerable examples per language")

    plot_drop_reasons(figures, summary.dropped, "Dropped input records by reason", "records")


REPORT = ReportKind("mrc", "MRC dataset", summarize, body, plot, rows=lambda summary: summary.rows,
                    plots=PLOTS)
