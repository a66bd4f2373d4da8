"""A report people look at: a short Markdown summary and PNG plots of an MRC dataset directory.

    python -m pipelines.report DIR [--out REPORT_DIR]

Writes ``REPORT_DIR/report.md`` (default ``DIR/report/``) and next to it:

- ``answer_position.png``: where answers start, relative to the context length. mPMR's stochastic answer
  position (paper 001 §2.2) should make this flat; a hump in the middle is the position bias it avoids.
- ``lengths.png``: query and context lengths in whitespace-separated words (characters for languages
  written without spaces would be the better unit; the plot says which it shows).
- ``answers_per_example.png``: 0 for unanswerable examples, ≥ 1 otherwise.
- ``examples_per_language.png``: answerable and unanswerable examples per language.
- ``drop_reasons.png``: the manifest's dropped-record counters (nothing silently lost).

The rows are streamed in batches (only the columns needed), so a large dataset needs memory for a few numbers
per row, not for its text. matplotlib is needed (``pip install matplotlib``).
"""
from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import Dict, List

import numpy as np

from schemas import open_dataset

COLUMNS = ["lang", "query", "context", "answers"]


@dataclass
class Summary:
    rows: int = 0
    answerable: Counter = field(default_factory=Counter)  # per language
    unanswerable: Counter = field(default_factory=Counter)
    answer_positions: List[float] = field(default_factory=list)  # answer start / context length
    answers_per_example: Counter = field(default_factory=Counter)
    query_words: List[int] = field(default_factory=list)
    context_words: List[int] = field(default_factory=list)
    dropped: Dict[str, int] = field(default_factory=dict)
    counters: Dict[str, int] = field(default_factory=dict)


def summarize(directory: str) -> Summary:
    dataset = open_dataset(directory, kind="mrc")
    summary = Summary(dropped=dict(dataset.manifest.dropped), counters=dict(dataset.manifest.counters))
    for batch in dataset.iter_batches(columns=COLUMNS, batch_size=4096):
        for row in batch.to_pylist():
            summary.rows += 1
            answers = row["answers"] or []
            (summary.answerable if answers else summary.unanswerable)[row["lang"]] += 1
            summary.answers_per_example[len(answers)] += 1
            length = max(1, len(row["context"]))
            summary.answer_positions.extend(a["start"] / length for a in answers)
            summary.query_words.append(len(row["query"].split()))
            summary.context_words.append(len(row["context"].split()))
    return summary


def _uniformity(positions: List[float]) -> str:
    if len(positions) < 20:
        return "too few answers to test"
    from scipy import stats  # scipy comes with the pipelines' dependencies (spaCy); imported only here
    p = stats.kstest(np.asarray(positions), "uniform").pvalue
    verdict = "consistent with uniform" if p > 1e-3 else "NOT uniform: check for position bias"
    return f"Kolmogorov-Smirnov against uniform: p = {p:.3g} ({verdict})"


def markdown(summary: Summary, directory: str) -> str:
    langs = sorted(set(summary.answerable) | set(summary.unanswerable))
    lines = [f"# MRC dataset report: `{directory}`", "",
             f"{summary.rows} examples: {sum(summary.answerable.values())} answerable, "
             f"{sum(summary.unanswerable.values())} unanswerable.", "",
             "| language | answerable | unanswerable |", "|---|---:|---:|"]
    lines += [f"| {lang} | {summary.answerable[lang]} | {summary.unanswerable[lang]} |" for lang in langs]
    if summary.rows:
        q, c = np.asarray(summary.query_words), np.asarray(summary.context_words)
        lines += ["", f"Query length (whitespace words): median {np.median(q):.0f}, max {q.max()}. "
                  f"Context length: median {np.median(c):.0f}, max {c.max()}.",
                  "", f"Answer start positions over the context: {_uniformity(summary.answer_positions)}.",
                  "", "Answers per example: " + ", ".join(f"{k}: {v}" for k, v in
                                                          sorted(summary.answers_per_example.items())) + "."]
    lines += ["", "## Dropped input records", ""]
    if summary.dropped:
        lines += ["| reason | count |", "|---|---:|"]
        lines += [f"| {k} | {v} |" for k, v in sorted(summary.dropped.items(), key=lambda kv: -kv[1])]
    else:
        lines.append("none")
    lines += ["", "## Counters", "", "| counter | value |", "|---|---:|"]
    lines += [f"| {k} | {v} |" for k, v in sorted(summary.counters.items())]
    lines += ["", "## Plots", ""] + [f"![{name}]({name}.png)" for name in PLOTS]
    return "\n".join(lines) + "\n"


PLOTS = ("answer_position", "lengths", "answers_per_example", "examples_per_language", "drop_reasons")


def plot(summary: Summary, out: str) -> List[str]:
    import matplotlib
    matplotlib.use("Agg")  # no display on workers and CI machines
    import matplotlib.pyplot as plt

    written = []

    def save(fig, name):
        path = os.path.join(out, name + ".png")
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.hist(summary.answer_positions, bins=20, range=(0, 1), color="tab:blue")
    if summary.answer_positions:
        ax.axhline(len(summary.answer_positions) / 20, color="black", linestyle="--", label="uniform")
        ax.legend()
    ax.set(title="Answer start position", xlabel="start / context length", ylabel="answers")
    save(fig, "answer_position")

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    axes[0].hist(summary.query_words, bins=30, color="tab:green")
    axes[0].set(title="Query length", xlabel="whitespace-separated words", ylabel="examples")
    axes[1].hist(summary.context_words, bins=30, color="tab:orange")
    axes[1].set(title="Context length", xlabel="whitespace-separated words")
    save(fig, "lengths")

    fig, ax = plt.subplots(figsize=(6, 3.5))
    keys = sorted(summary.answers_per_example)
    ax.bar([str(k) for k in keys], [summary.answers_per_example[k] for k in keys], color="tab:purple")
    ax.set(title="Answers per example", xlabel="answers (0 = unanswerable)", ylabel="examples")
    save(fig, "answers_per_example")

    fig, ax = plt.subplots(figsize=(6, 3.5))
    langs = sorted(set(summary.answerable) | set(summary.unanswerable))
    x = np.arange(len(langs))
    ax.bar(x - 0.2, [summary.answerable[lang] for lang in langs], 0.4, label="answerable")
    ax.bar(x + 0.2, [summary.unanswerable[lang] for lang in langs], 0.4, label="unanswerable")
    ax.set_xticks(x, langs)
    ax.set(title="Examples per language", ylabel="examples")
    ax.legend()
    save(fig, "examples_per_language")

    reasons = sorted(summary.dropped.items(), key=lambda kv: kv[1])
    fig, ax = plt.subplots(figsize=(8, 0.6 + 0.35 * max(1, len(reasons))))
    ax.barh([k for k, _ in reasons], [v for _, v in reasons], color="tab:red")
    ax.set_xscale("log" if reasons and max(v for _, v in reasons) > 100 * min(v for _, v in reasons) else "linear")
    ax.set(title="Dropped input records by reason", xlabel="records")
    save(fig, "drop_reasons")
    return written


def write_report(directory: str, out: str | None = None) -> str:
    """Write the report of the dataset in ``directory``; returns the Markdown file's path."""
    out = out or os.path.join(directory, "report")
    os.makedirs(out, exist_ok=True)
    summary = summarize(directory)
    plot(summary, out)
    path = os.path.join(out, "report.md")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(markdown(summary, directory))
    return path


def main(argv: List[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.report", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("directory", metavar="DIR", help="an MRC dataset directory (shards + manifest.json)")
    parser.add_argument("--out", default=None, help="where to write report.md and the plots (default DIR/report)")
    args = parser.parse_args(argv)
    try:
        path = write_report(args.directory, args.out)
    except ImportError as err:
        print(f"error: {err}: install matplotlib (pip install matplotlib)", file=sys.stderr)
        return 1
    except Exception as err:  # a missing or invalid dataset: one line, not a traceback
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
