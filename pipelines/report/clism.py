"""The report of a ``clism`` dataset ([QUE] span pairs, paper 000 §3.1), per language pair.

Plots:
- ``pairs_per_language_pair``: of the pairs read per language pair, how many became rows and how many were
  dropped before span selection (empty, too long, ...) or after it (no span, no aligned span).
- ``answers_per_pair``: how many [QUE] spans (answers) a row has.
- ``span_lengths``: source span and answer lengths, in the words the aligner saw. An answer much longer than
  its span is the mark of a stray link (the answer runs from the first to the last linked target word).
- ``aligned_span_coverage``: how much of each answer is linked to its source span, and of each source span to
  its answer. "All words" means every word of the one is linked into the other; gaps mean the answer was
  bridged over unlinked words.
- ``drop_reasons``: dropped pairs (the manifest's ``dropped``) and dropped spans (``spans_dropped.*``).
"""
from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from pipelines.report.common import (KEPT, LOST, LOST_OTHER, Figures, ReportKind, counts_height, distribution,
                                     hbar_counts, median, percent, series_height, stacked_hbar, stream_rows, table)
from schemas import Dataset

COLUMNS = ["src_lang", "tgt_lang", "source_spans", "answers", "source_words", "target_words", "alignment"]
# Plots: largest answer count and span length with a bar of their own; larger ones share the last bar.
LAST_ANSWERS, LAST_WORDS = 8, 11
COVERAGE = ("all words", "half or more", "under half")
SPAN_DROPS = "spans_dropped."
# Why a usable (cleaned) pair becomes no row: no source span survived the filters, or none was aligned.
SPAN_STAGE_DROPS = ("no_source_span", "no_aligned_span")

PLOTS = ("pairs_per_language_pair", "answers_per_pair", "span_lengths", "aligned_span_coverage", "drop_reasons")


@dataclass
class PairSummary:
    """What the rows of one language pair look like."""

    rows: int = 0
    answers: int = 0
    answers_per_row: Counter = field(default_factory=Counter)
    span_words: Counter = field(default_factory=Counter)  # source span length in words → spans
    answer_words: Counter = field(default_factory=Counter)
    answer_coverage: Counter = field(default_factory=Counter)  # COVERAGE bucket → answers
    span_coverage: Counter = field(default_factory=Counter)
    identical: int = 0  # answers whose text is the source span's text
    labels: Counter = field(default_factory=Counter)


@dataclass
class Summary:
    pairs: dict[str, PairSummary] = field(default_factory=lambda: defaultdict(PairSummary))
    read: dict[str, int] = field(default_factory=dict)  # pairs read per language pair (manifest counters)
    usable: dict[str, int] = field(default_factory=dict)  # pairs left after cleaning
    dropped: dict[str, int] = field(default_factory=dict)  # pairs, by reason
    span_drops: dict[str, int] = field(default_factory=dict)  # spans, by reason
    spans_selected: int | None = None

    @property
    def rows(self) -> int:
        return sum(pair.rows for pair in self.pairs.values())

    def language_pairs(self) -> list[str]:
        return sorted(set(self.pairs) | set(self.read))


class _Words:
    """The words of one side of a row, to find which of them a character span covers."""

    def __init__(self, words: list[dict]):
        self.starts = [w["start"] for w in words]
        self.ends = [w["end"] for w in words]

    def inside(self, start: int, end: int) -> tuple[int, int]:
        """Indices [i, j) of the words inside the characters [start, end) (words are sorted and disjoint)."""
        return bisect_left(self.starts, start), bisect_right(self.ends, end)


def coverage_bucket(linked: int, words: int) -> str:
    """Which COVERAGE bucket ``linked`` of ``words`` words falls in."""
    if words and linked == words:
        return COVERAGE[0]
    return COVERAGE[1] if 2 * linked >= words else COVERAGE[2]


def _add_row(pair: PairSummary, row: dict) -> None:
    pair.rows += 1
    answers = row["answers"]
    pair.answers += len(answers)
    pair.answers_per_row[len(answers)] += 1
    links = [(link["src"], link["tgt"]) for link in row["alignment"]]
    source_words, target_words = _Words(row["source_words"]), _Words(row["target_words"])
    for span, answer in zip(row["source_spans"], answers):
        i, j = source_words.inside(span["start"], span["end"])
        k, m = target_words.inside(answer["start"], answer["end"])
        pair.span_words[j - i] += 1
        pair.answer_words[m - k] += 1
        inside = [(s, t) for s, t in links if i <= s < j and k <= t < m]
        pair.span_coverage[coverage_bucket(len({s for s, _ in inside}), j - i)] += 1
        pair.answer_coverage[coverage_bucket(len({t for _, t in inside}), m - k)] += 1
        pair.identical += span["text"] == answer["text"]
        pair.labels[span["label"] or "(none)"] += 1


def summarize(dataset: Dataset) -> Summary:
    counters = dataset.manifest.counters
    summary = Summary(dropped=dict(dataset.manifest.dropped), spans_selected=counters.get("spans_selected"))
    for name, value in counters.items():
        head, _, group = name.partition(".")
        if head == "pairs_read" and group:
            summary.read[group] = value
        elif head == "pairs_usable" and group:
            summary.usable[group] = value
        elif name.startswith(SPAN_DROPS):
            summary.span_drops[name[len(SPAN_DROPS):]] = value
    for row in stream_rows(dataset, COLUMNS, batch_size=1024):
        _add_row(summary.pairs[f"{row['src_lang']}-{row['tgt_lang']}"], row)
    return summary


def _median(counter: Counter) -> str:
    value = median(counter)
    return "–" if value is None else str(value)


def _unaccounted(summary: Summary) -> int:
    """Usable pairs that became no row and no drop at the span stage (0 when the manifest adds up, or when it
    has no per-pair counters to check against)."""
    if not summary.usable:
        return 0
    span_stage = sum(summary.dropped.get(reason, 0) for reason in SPAN_STAGE_DROPS)
    return sum(summary.usable.values()) - summary.rows - span_stage


def body(summary: Summary, dataset: Dataset) -> list[str]:
    pairs = summary.pairs
    answers = sum(pair.answers for pair in pairs.values())
    groups = summary.language_pairs()
    lines = [f"{summary.rows} rows with {answers} [QUE] answers, in {len(groups)} language "
             f"pair{'s' if len(groups) != 1 else ''}.", ""]
    if summary.spans_selected is not None:
        unaligned = summary.span_drops.get("unaligned", 0)
        lines += [f"Source spans selected: {summary.spans_selected}; mapped to an answer: {answers} "
                  f"({percent(answers, summary.spans_selected)}); no aligned target word: {unaligned}.", ""]
    unaccounted = _unaccounted(summary)
    if unaccounted:
        lines += [f"**{unaccounted} usable pairs are neither rows nor counted drops** (pairs_usable − rows − "
                  "no_source_span − no_aligned_span): the manifest misses a drop counter.", ""]
    rows = []
    for name in groups:
        pair = pairs.get(name, PairSummary())
        read = summary.read.get(name)
        # a language pair none of whose pairs was usable has no `pairs_usable.<pair>` counter
        usable = summary.usable.get(name, None if read is None else 0)
        rows.append((name, "–" if read is None else read, "–" if usable is None else usable, pair.rows,
                     pair.answers, f"{pair.answers / pair.rows:.2f}" if pair.rows else "–",
                     _median(pair.span_words), _median(pair.answer_words),
                     percent(pair.answer_coverage[COVERAGE[0]], pair.answers),
                     percent(pair.identical, pair.answers)))
    lines += table(["language pair", "pairs read", "usable", "rows", "answers", "answers / row",
                    "median span words", "median answer words", "answers fully linked", "answer = span text"],
                   rows)
    lines += ["", "Words are those the aligner saw. *Answers fully linked*: every answer word has a link to a word "
              "of its source span. *Answer = span text*: the answer is the source span's text unchanged (names "
              "copied across languages of one script)."]
    labels = sorted({label for pair in pairs.values() for label in pair.labels})
    if labels:
        lines += ["", "Answers per source span type:", ""]
        lines += table(["language pair", *labels],
                       [(name, *(pairs[name].labels[label] for label in labels)) for name in sorted(pairs)])
    return lines + [""]


def plot(summary: Summary, figures: Figures) -> None:
    groups = summary.language_pairs()
    height = 1.6 + 0.45 * len(groups)
    if groups and summary.read:
        fig, (ax,) = figures.new(width=8, height=height + 0.4)
        rows = [summary.pairs[g].rows if g in summary.pairs else 0 for g in groups]
        read = [summary.read.get(g, r) for g, r in zip(groups, rows)]
        usable = [summary.usable.get(g, r if g not in summary.read else 0) for g, r in zip(groups, rows)]
        stacked_hbar(ax, groups, [("rows", rows, KEPT),
                                  ("dropped: no (aligned) span", [u - r for u, r in zip(usable, rows)], LOST),
                                  ("dropped in cleaning: empty, too long…", [p - u for p, u in zip(read, usable)],
                                   LOST_OTHER)],
                     "Input pairs per language pair", "% of the pairs read", as_share=True)
        figures.save(fig, "pairs_per_language_pair", "Input pairs per language pair: rows and drops")
    if summary.rows:
        series = {name: pair for name, pair in summary.pairs.items() if pair.rows}
        fig, (ax,) = figures.new(width=7, height=series_height(len(series)))
        distribution(ax, {n: p.answers_per_row for n, p in series.items()}, LAST_ANSWERS, 1,
                     "[QUE] answers per row", "answers in the row", unit="rows",
                     series_name="language pair")
        figures.save(fig, "answers_per_pair", "[QUE] answers per row")

        fig, axes = figures.new(2, width=12, height=series_height(len(series)))
        distribution(axes[0], {n: p.span_words for n, p in series.items()}, LAST_WORDS, 1,
                     "Source span length", "words", unit="spans",
                     series_name="language pair")
        distribution(axes[1], {n: p.answer_words for n, p in series.items()}, LAST_WORDS, 1,
                     "Answer length (target)", "words", color="tab:purple", unit="answers",
                     series_name="language pair")
        figures.save(fig, "span_lengths", "Source span and answer lengths in words")

        fig, axes = figures.new(2, width=10, height=1.9 + 0.45 * len(series))
        names = sorted(series)
        colours = (KEPT, LOST_OTHER, LOST)
        for ax, attribute, title, unit in (
                (axes[0], "answer_coverage", "Answer words linked to the source span", "% of the answers"),
                (axes[1], "span_coverage", "Source span words linked to the answer", "% of the source spans")):
            stacked_hbar(ax, names, [(bucket_name, [getattr(series[n], attribute)[bucket_name] for n in names],
                                      colour) for bucket_name, colour in zip(COVERAGE, colours)],
                         title, unit, as_share=True)
        figures.save(fig, "aligned_span_coverage", "How much of each span pair the alignment links cover")

    if not summary.dropped and not summary.span_drops:
        return  # the Markdown says "none"; a chart of nothing is noise
    bars = max(len(summary.dropped), len(summary.span_drops))
    fig, axes = figures.new(2, width=11, height=counts_height(bars))
    hbar_counts(axes[0], summary.dropped, "Dropped pairs by reason", "pairs", color=LOST)
    hbar_counts(axes[1], summary.span_drops, "Dropped source spans by reason", "spans", color=LOST_OTHER)
    figures.save(fig, "drop_reasons", "Dropped pairs and dropped spans by reason")


REPORT = ReportKind("clism", "CLISM dataset", summarize, body, plot, rows=lambda summary: summary.rows,
                    plots=PLOTS)
