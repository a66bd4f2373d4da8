"""What the report of every dataset kind shares: the report's frame (size note, drops, counters, plot list),
Markdown tables, and the plot helpers that keep every PNG alike (labelled axes, a number on every bar).

A kind's report is a ``ReportKind``: ``summarize`` streams the dataset into a small summary (numbers and
counters, never the text), ``body`` turns it into Markdown lines and ``plot`` draws its figures through a
``Figures``, which records the PNGs it wrote so that the Markdown links only to plots that exist.
"""
from __future__ import annotations

import os
import sys
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from schemas import Dataset

# Below this many rows a dataset is called tiny: its histograms show single rows, not a distribution.
TINY_ROWS = 100
# Longest bar chart of reasons or types; the rest are summed into one bar, so a chart stays readable.
MAX_BARS = 20
# Seconds between progress lines while a large dataset is read.
PROGRESS_SECONDS = 15.0
# One colour per outcome across all reports, so "kept" and "lost" look the same everywhere.
KEPT, LOST, LOST_OTHER, NEUTRAL = "tab:green", "tab:red", "tab:orange", "tab:blue"


@dataclass(frozen=True)
class ReportKind:
    """The report of one dataset kind (``kind`` is the manifest's ``kind``)."""

    kind: str
    title: str
    summarize: Callable[[Dataset], Any]
    body: Callable[[Any, Dataset], list[str]]
    plot: Callable[[Any, "Figures"], None]
    rows: Callable[[Any], int]  # rows the summary has seen (0: the plots of rows are skipped)
    plots: tuple[str, ...]  # every plot it may draw: one left from an earlier run and not redrawn is removed


def stream_rows(dataset: Dataset, columns: list[str], batch_size: int = 4096) -> Iterator[dict]:
    """The rows of ``dataset`` (only ``columns``), streamed; a line on stderr every PROGRESS_SECONDS says how
    far the reading is, since a report of a large dataset takes minutes."""
    total, seen, last = dataset.num_rows, 0, time.monotonic()
    for batch in dataset.iter_batches(columns=columns, batch_size=batch_size):
        yield from batch.to_pylist()
        seen += batch.num_rows
        if time.monotonic() - last >= PROGRESS_SECONDS:
            last = time.monotonic()
            print(f"report: {seen:,} of {total:,} rows read", file=sys.stderr, flush=True)


class Figures:
    """Saves matplotlib figures as ``DIR/<name>.png`` and remembers what it wrote, with a caption each."""

    def __init__(self, directory: str):
        import matplotlib
        matplotlib.use("Agg")  # no display on workers and CI machines
        import matplotlib.pyplot as plt
        self.plt = plt
        self.directory = directory
        self.written: list[tuple[str, str]] = []  # (name, caption)

    def new(self, panels: int = 1, width: float = 6.5, height: float = 3.6):
        fig, axes = self.plt.subplots(1, panels, figsize=(width, height), squeeze=False)
        return fig, list(axes[0])

    def save(self, fig, name: str, caption: str) -> None:
        fig.tight_layout()
        fig.savefig(os.path.join(self.directory, name + ".png"), dpi=100)
        self.plt.close(fig)
        self.written.append((name, caption))


def size_note(rows: int) -> list[str]:
    """The sentence that warns about an empty or tiny dataset (nothing for a normal one)."""
    if rows == 0:
        return ["**The dataset is empty: 0 rows.** The drop reasons below say where the input went; "
                "no plot of the rows' contents is drawn.", ""]
    if rows < TINY_ROWS:
        return [f"**Only {rows} row{'s' if rows != 1 else ''}**: a tiny dataset, so the distributions below "
                "show single rows rather than a shape.", ""]
    return []


def table(header: Sequence[str], rows: Iterable[Sequence[Any]], numeric_from: int = 1) -> list[str]:
    """A Markdown table; columns from ``numeric_from`` on are right-aligned."""
    align = ["---" if n < numeric_from else "---:" for n in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return lines


def percent(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "–"


def median(counter: Mapping[int, int]) -> int | None:
    """The median of whole numbers given as value → count (the lower one of an even count); None if empty."""
    total, seen = sum(counter.values()), 0
    for value in sorted(counter):
        seen += counter[value]
        if 2 * seen >= total:
            return value
    return None


def counts_section(title: str, counts: Mapping[str, int], empty: str = "none") -> list[str]:
    lines = [f"## {title}", ""]
    if not counts:
        return lines + [empty, ""]
    return lines + table(["reason", "count"], sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))) + [""]


def frame(report: ReportKind, summary: Any, dataset: Dataset, plots: list[tuple[str, str]]) -> str:
    """The whole Markdown report: title, size note, the kind's body, drops, counters and the plots."""
    manifest = dataset.manifest
    lines = [f"# {report.title} report: `{dataset.directory}`", ""]
    lines += size_note(report.rows(summary))
    lines += report.body(summary, dataset)
    lines += counts_section("Dropped input records", manifest.dropped,
                            "none" if report.rows(summary) else "none: was the input itself empty?")
    lines += ["## Counters", ""]
    lines += table(["counter", "value"], sorted(manifest.counters.items())) if manifest.counters else ["none"]
    lines += ["", "## Plots", ""]
    lines += [f"![{caption}]({name}.png)" for name, caption in plots] or ["none (nothing to plot)"]
    return "\n".join(lines) + "\n"


def top(counts: Mapping[str, int], limit: int = MAX_BARS) -> list[tuple[str, int]]:
    """The ``limit`` largest counts (largest first); the rest summed as one "(N others)" entry."""
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    if len(ranked) <= limit:
        return ranked
    rest = ranked[limit - 1:]
    return ranked[:limit - 1] + [(f"({len(rest)} others)", sum(v for _, v in rest))]


def label_bars(ax, bars, values: Sequence[float], fmt: str = "{:,}") -> None:
    """Write each bar's value at its end: people read numbers off a chart."""
    ax.bar_label(bars, labels=[fmt.format(v) if v else "" for v in values], padding=2, fontsize=8)


def hbar_counts(ax, counts: Mapping[str, int], title: str, xlabel: str, color: str = NEUTRAL) -> None:
    """Horizontal bars, largest on top, each labelled with its count."""
    items = top(counts)
    if not items:
        ax.text(0.5, 0.5, "none", ha="center", va="center", transform=ax.transAxes, fontsize=12, color="gray")
        ax.set(title=title, xticks=[], yticks=[])
        return
    names, values = [k for k, _ in reversed(items)], [v for _, v in reversed(items)]
    bars = ax.barh(names, values, color=color)
    label_bars(ax, bars, values)  # linear even when counts differ 1000×: the labels carry the small ones
    ax.margins(x=0.15)  # room for the value labels
    ax.set(title=title, xlabel=xlabel)


def counts_height(bars: int) -> float:
    """Figure height for a chart of ``bars`` horizontal bars (at most MAX_BARS drawn)."""
    return 1.8 + 0.35 * min(MAX_BARS, max(1, bars))


def plot_drop_reasons(figures: Figures, dropped: Mapping[str, int], title: str, xlabel: str) -> None:
    """The ``drop_reasons`` plot of the manifest's dropped-record counters; none when nothing was dropped (the
    Markdown says "none"; a chart of nothing is noise)."""
    if not dropped:
        return
    fig, (ax,) = figures.new(width=8, height=counts_height(len(dropped)))
    hbar_counts(ax, dropped, title, xlabel, color=LOST)
    figures.save(fig, "drop_reasons", "Dropped input records by reason")


def length_histogram(ax, lengths: Mapping[int, int], title: str, xlabel: str, ylabel: str | None = None,
                     color: str = NEUTRAL, max_bins: int = 30) -> None:
    """A histogram of whole numbers (value → count) in whole-number bins centred on their values, at most
    ``max_bins`` of them, with whole-number ticks: "7.5 words" and "2.5 examples" mean nothing.

    A long thin tail (beyond 1.5× the 99.5th percentile) would squeeze the rest into a few bars: it is left
    out of the bars and its size written on the plot instead."""
    values = sorted(lengths)
    if not values:
        return
    total, seen, cap = sum(lengths.values()), 0, values[-1]
    for value in values:
        seen += lengths[value]
        if seen >= 0.995 * total:
            cap = value
            break
    if values[-1] > 1.5 * cap:
        tail = sum(lengths[v] for v in values if v > cap)
        ax.text(0.98, 0.95, f"{tail:,} longer than {cap} (up to {values[-1]}) not drawn", transform=ax.transAxes,
                ha="right", va="top", fontsize=8, color="gray")
        values = [v for v in values if v <= cap]
    width = max(1, -(-(values[-1] - values[0] + 1) // max_bins))
    edges = [values[0] - 0.5 + width * n for n in range((values[-1] - values[0]) // width + 2)]
    ax.hist(values, bins=edges, weights=[lengths[v] for v in values], color=color)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.set(title=title, xlabel=xlabel)
    if ylabel:
        ax.set(ylabel=ylabel)


def bucketed(counter: Counter, first: int, last: int) -> list[int]:
    """Counts of the values ``first`` … ``last - 1``, then of all values from ``last`` on (one bar)."""
    return [counter[n] for n in range(first, last)] + [sum(v for k, v in counter.items() if k >= last)]


def bucket_labels(last: int, first: int = 0) -> list[str]:
    return [str(n) for n in range(first, last)] + [f"{last}+"]


def distribution(ax, series: Mapping[str, Counter], last: int, first: int, title: str, xlabel: str,
                 color: str = NEUTRAL, unit: str = "count", series_name: str = "series") -> None:
    """Counts of small integers (exact values → count), bars ``first`` … ``last``+, of one or several
    series (e.g. language pairs).

    One series: bars with counts. Several: a heat map of each series' shares, one row per series with the
    percentage written in each cell; lines or grouped bars of many series hide each other."""
    labels = bucket_labels(last, first)
    xs = list(range(len(labels)))
    if len(series) <= 1:
        values = bucketed(next(iter(series.values()), Counter()), first, last)
        bars = ax.bar(xs, values, color=color)
        label_bars(ax, bars, values)
        ax.set(ylabel=unit)
        ax.margins(y=0.15)
        ax.set_xticks(xs, labels)
    else:
        names = sorted(series)
        shares = []
        for name in names:
            values = bucketed(series[name], first, last)
            total = sum(values) or 1
            shares.append([100 * v / total for v in values])
        ax.imshow(shares, cmap="Blues", vmin=0, vmax=100, aspect="auto")
        for row, line in enumerate(shares):
            for column, share in enumerate(line):
                if share >= 0.5:
                    ax.text(column, row, f"{share:.0f}", ha="center", va="center", fontsize=8,
                            color="white" if share > 60 else "black")
        ax.set_xticks(xs, labels)
        ax.set_yticks(range(len(names)), names)
        ax.set(ylabel=series_name)
        xlabel = f"{xlabel} (cell: % of the {series_name}'s {unit})"
    ax.set(title=title, xlabel=xlabel)


def series_height(series: int, base: float = 3.6) -> float:
    """Figure height for a distribution of ``series`` series (a heat map row each)."""
    return max(base, 1.6 + 0.4 * series)


def stacked_hbar(ax, groups: Sequence[str], parts: Sequence[tuple[str, Sequence[int], str]], title: str,
                 xlabel: str, as_share: bool = False) -> None:
    """One horizontal bar per group, split into labelled parts (name, value per group, colour); with
    ``as_share`` each bar is 100% so groups of different size compare. The legend sits right of the axes."""
    totals = [sum(values[n] for _, values, _ in parts) for n in range(len(groups))]
    left = [0.0] * len(groups)
    for name, values, color in parts:
        widths = [100 * v / t if as_share and t else v for v, t in zip(values, totals)]
        bars = ax.barh(list(groups), widths, height=0.6, left=left, color=color, label=name)
        # A count inside its segment, unless the segment is too narrow to hold it.
        room = [w >= 0.06 * (100 if as_share else max(totals) or 1) for w in widths]
        ax.bar_label(bars, labels=[f"{v:,}" if v and fits else "" for v, fits in zip(values, room)],
                     label_type="center", fontsize=8, color="white")
        left = [a + b for a, b in zip(left, widths)]
    ax.invert_yaxis()  # first group on top, as in the tables
    ax.set(title=title, xlabel=xlabel)
    if as_share:
        ax.set_xlim(0, 100)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
