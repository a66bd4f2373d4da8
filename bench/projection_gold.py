"""Span projection against gold cross-lingual spans: every projection method on every language pair the shared
data has gold for, in one run (paper 002 §2.2).

    python bench/projection_gold.py [--runs 3] [--only europarl-en-de xquad-en-zh ...] [--no-fast-align]
    python -m bench --only projection_gold          # one run, the table as bench rows

Gold pairs:

- **Europarl en→de, de→en** (``ner/{en,de}-europarl.test.conll02``, 799 sentences, each side its own gold
  entities): one side's gold spans projected onto the other side's gold tokens, entity F1 (conlleval exact
  match of type and boundaries, ``pipelines.project_labels.evaluate.Scores``) against the other side's gold;
  overlapping projections resolved by the pipeline's default conflict policy.
- **XQuAD en→de, es, ar, vi, zh** (``qa/xquad``, 240 paragraphs, 1,190 questions with the same ids in every
  language): each English answer span (the words it touches) mapped onto the paragraph's translation, scored
  against that language's gold answer by exact match and character F1 (both after NFKC, case folding, removing
  whitespace and trimming punctuation at either end: no word-level measure would be fair to zh). Words are
  ``pipelines.tokenize.words``. Whole paragraphs are aligned, not sentences: the translators merged and split
  sentences (a punctuation splitter gives both sides the same number of sentences in only 48-90% of the
  paragraphs, depending on the language) and the project has no sentence aligner, so pairing sentences would
  mis-pair some and lose their answers, whereas a paragraph pair is always right. The aligner also sees the
  1,190 translated questions as extra parallel text (their links are not used). ``oracle`` is the share of gold
  answers that are exactly some span of target words at all (a tokeniser limit no method can pass).
  The CLISM row builder (``pipelines.clism.rows.build_row``, with the CLISM pipeline's default symmetrisation)
  runs on the same links: its exact-gold rate is the share of its ``[QUE]`` answers that are the gold answer.

Methods (columns): paper 002's span-to-span rule (eq. 2, first to last linked target word) on eflomal links
symmetrised by grow-diag-final-and and by intersection; the word-to-word baseline; the pipelines' default
(``pipelines.project_labels.projection.DEFAULT_METHOD`` on the projection pipeline's default symmetrisation);
with ``fast_align`` on the tools' path also fast_align + grow-diag-final-and, naive and default. Every method of
a run maps the same alignment. eflomal cannot be seeded: ``--runs N`` aligns N times and prints min-max ranges.
The bench's eflomal runs with 3 samplers and half its iteration count (``--eflomal-samplers``,
``--eflomal-rel-iterations``): XQuAD paragraphs are long and the machine is shared.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench._paths import data_root, tools_bin  # noqa: E402

from alignment import make_aligner, symmetrize  # noqa: E402
from pipelines.align.options import PIPELINE_DEFAULTS  # noqa: E402
from pipelines.project_labels.evaluate import Scores  # noqa: E402
from pipelines.project_labels.projection import DEFAULT_METHOD, project  # noqa: E402

XQUAD_TARGETS = ("de", "es", "ar", "vi", "zh")
Links = list[tuple[int, int]]
Words = list[tuple[str, int, int]]


# ---------------------------------------------------------------------------------------------- methods

@dataclass(frozen=True)
class Method:
    """A column: which aligner's links, symmetrised how, mapped by which projection method."""

    label: str
    aligner: str
    heuristic: str
    projection: str  # a pipelines.project_labels.projection METHODS name


def methods(with_fast_align: bool) -> list[Method]:
    default_heuristic = PIPELINE_DEFAULTS["project_labels"].heuristic
    out = [Method("naive gdfa", "eflomal", "grow-diag-final-and", "span"),
           Method("naive intersect", "eflomal", "intersect", "span"),
           Method("word-to-word gdfa", "eflomal", "grow-diag-final-and", "word"),
           Method(f"default ({DEFAULT_METHOD}, {default_heuristic})", "eflomal", default_heuristic, DEFAULT_METHOD)]
    if with_fast_align:
        out += [Method("fast_align naive gdfa", "fast_align", "grow-diag-final-and", "span"),
                Method("fast_align default", "fast_align", default_heuristic, DEFAULT_METHOD)]
    return out


# ---------------------------------------------------------------------------------------------- gold sets

def normalised(text: str) -> str:
    """The text compared by exact match and character F1: NFKC, case-folded, no whitespace, no punctuation or
    symbol at either end (so "Denver Broncos." equals "Denver Broncos" and "丹佛野马队" compares by character)."""
    text = "".join(ch for ch in unicodedata.normalize("NFKC", text).casefold() if not ch.isspace())
    start, end = 0, len(text)
    while start < end and unicodedata.category(text[start])[0] in "PS":
        start += 1
    while end > start and unicodedata.category(text[end - 1])[0] in "PS":
        end -= 1
    return text[start:end]


def char_f1(predicted: str, gold: str) -> float:
    p, g = Counter(normalised(predicted)), Counter(normalised(gold))
    common = sum((p & g).values())
    if not common:
        return 0.0
    precision, recall = common / sum(p.values()), common / sum(g.values())
    return 2 * precision * recall / (precision + recall)


@dataclass
class SpanScore:
    """Exact match and character F1 over mapped answers (an unmapped answer scores 0 in both)."""

    answers: int = 0
    exact: int = 0
    f1: float = 0.0
    unmapped: int = 0

    def add(self, predicted: str | None, gold: str, one_span: bool = True) -> None:
        """``one_span=False``: the prediction is several fragments (word-to-word), never an exact match."""
        self.answers += 1
        if predicted is None:
            self.unmapped += 1
            return
        self.exact += one_span and normalised(predicted) == normalised(gold)
        self.f1 += char_f1(predicted, gold)

    @property
    def em(self) -> float:
        return self.exact / self.answers if self.answers else 0.0

    @property
    def char_f1(self) -> float:
        return self.f1 / self.answers if self.answers else 0.0


class GoldPair:
    """One language pair with gold on both sides: the sentence pairs the aligner sees, and a scorer of links."""

    name: str
    measure: str

    def aligner_pairs(self) -> list[tuple[list[str], list[str]]]:
        """Every pair the aligner sees; the first ``len(self)`` are the scored ones."""
        raise NotImplementedError

    def score(self, links: Sequence[Links], method: str) -> tuple[float, ...]:
        raise NotImplementedError


def read_conll_tokens(path: Path):
    from schemas.conll import read_conll
    return [(s.tokens, s.tags) for s in read_conll(str(path), tag_scheme=None)]


class EuroparlPair(GoldPair):
    measure = "entity F1"

    def __init__(self, data: Path, src: str, tgt: str, limit: int | None = None):
        self.name = f"Europarl {src}→{tgt}"
        self.key = f"europarl-{src}-{tgt}"
        self.source = read_conll_tokens(data / "ner" / f"{src}-europarl.test.conll02")[:limit]
        self.target = read_conll_tokens(data / "ner" / f"{tgt}-europarl.test.conll02")[:limit]
        if len(self.source) != len(self.target):
            raise ValueError(f"Europarl {src} and {tgt} have {len(self.source)} and {len(self.target)} sentences")

    def __len__(self) -> int:
        return len(self.source)

    def aligner_pairs(self):
        return [(list(s), list(t)) for (s, _), (t, _) in zip(self.source, self.target)]

    def score(self, links, method):
        from schemas.tags import spans_from_tags
        scores = Scores()
        for (_, source_tags), (_, target_tags), sentence_links in zip(self.source, self.target, links):
            projected = project(spans_from_tags(source_tags), sentence_links, method)
            scores.add(projected.spans, spans_from_tags(target_tags))
        return (scores.overall.f1,)


def read_xquad(data: Path, lang: str) -> list[dict]:
    with open(data / "qa" / "xquad" / f"xquad.{lang}.json", encoding="utf-8") as handle:
        return [paragraph for article in json.load(handle)["data"] for paragraph in article["paragraphs"]]


@dataclass
class Answer:
    source_words: tuple[int, int]  # [start, end) of the English words the answer touches
    gold: str  # the target language's gold answer text
    gold_chars: tuple[int, int]


@dataclass
class ParagraphPair:
    source: str
    target: str
    source_words: Words
    target_words: Words
    answers: list[Answer] = field(default_factory=list)


class XquadPair(GoldPair):
    measure = "EM / char-F1"

    def __init__(self, data: Path, tgt: str, limit: int | None = None, src: str = "en"):
        from pipelines.tokenize import words
        self.name = f"XQuAD {src}→{tgt}"
        self.key = f"xquad-{src}-{tgt}"
        self.src, self.tgt = src, tgt
        source, target = read_xquad(data, src)[:limit], read_xquad(data, tgt)
        where = {q["id"]: k for k, paragraph in enumerate(target) for q in paragraph["qas"]}
        self.paragraphs: list[ParagraphPair] = []
        self.questions: list[tuple[list[str], list[str]]] = []
        self.answers_off_words = 0
        for paragraph in source:
            other = target[where[paragraph["qas"][0]["id"]]]
            pair = ParagraphPair(paragraph["context"], other["context"], words(paragraph["context"], src),
                                 words(other["context"], tgt))
            translated = {q["id"]: q for q in other["qas"]}
            for question in paragraph["qas"]:
                answer, gold = question["answers"][0], translated[question["id"]]["answers"][0]
                start, end = answer["answer_start"], answer["answer_start"] + len(answer["text"])
                touched = [k for k, (_, a, b) in enumerate(pair.source_words) if a < end and b > start]
                if not touched:  # cannot happen with a real tokeniser; counted, never silently dropped
                    self.answers_off_words += 1
                    continue
                pair.answers.append(Answer((touched[0], touched[-1] + 1), gold["text"],
                                           (gold["answer_start"], gold["answer_start"] + len(gold["text"]))))
                self.questions.append(([w for w, _, _ in words(question["question"], src)],
                                       [w for w, _, _ in words(translated[question["id"]]["question"], tgt)]))
            self.paragraphs.append(pair)

    def __len__(self) -> int:
        return len(self.paragraphs)

    def aligner_pairs(self):
        return [([w for w, _, _ in p.source_words], [w for w, _, _ in p.target_words])
                for p in self.paragraphs] + self.questions

    def oracle(self) -> float:
        """Share of gold answers that are exactly a run of target words (after normalisation): the ceiling of
        exact match for any word-level mapping."""
        hit = total = 0
        for p in self.paragraphs:
            starts = {a for _, a, _ in p.target_words}
            ends = {b for _, _, b in p.target_words}
            for answer in p.answers:
                total += 1
                a, b = answer.gold_chars
                # Word boundaries within 3 characters of the gold offsets (punctuation, spaces around it).
                hit += any(normalised(p.target[x:y]) == normalised(answer.gold)
                           for x in starts if abs(x - a) <= 3 for y in ends if abs(y - b) <= 3 and y > x)
        return hit / total if total else 0.0

    def score(self, links, method):
        from pipelines.project_labels.projection import map_source_span
        result = SpanScore()
        for p, paragraph_links in zip(self.paragraphs, links):
            for answer in p.answers:
                mapped = map_source_span(paragraph_links, *answer.source_words, method)
                if not mapped:
                    result.add(None, answer.gold)
                    continue
                # Word-to-word may give fragments: their words' characters count for F1; exact only as one run.
                text = " ".join(p.target[p.target_words[a][1]:p.target_words[b - 1][2]] for a, b in mapped)
                result.add(text, answer.gold, one_span=len(mapped) == 1)
        return result.em, result.char_f1

    def clism_exact_gold(self, links) -> float:
        """Share of the CLISM row builder's [QUE] answers that are exactly the gold answer."""
        from pipelines.clism.prepare import PreparedPair
        from pipelines.clism.rows import build_row
        exact = total = 0
        for k, (p, paragraph_links) in enumerate(zip(self.paragraphs, links)):
            for n, answer in enumerate(p.answers):
                pair = PreparedPair(key=f"{k}:{n}", group=f"{self.src}-{self.tgt}", src_lang=self.src,
                                    tgt_lang=self.tgt, corpus="xquad", line=k, source=p.source, target=p.target,
                                    source_words=tuple((a, b) for _, a, b in p.source_words),
                                    target_words=tuple((a, b) for _, a, b in p.target_words),
                                    spans=((*answer.source_words, "ANSWER"),))
                row = build_row(pair, paragraph_links, "[QUE]")
                total += 1
                if row is not None:
                    exact += normalised(row["answers"][0]["text"]) == normalised(answer.gold)
        return exact / total if total else 0.0


# ---------------------------------------------------------------------------------------------- runs

def gold_pairs(data: Path, only: Sequence[str] | None = None, limit: int | None = None) -> list[GoldPair]:
    """Every gold pair the shared data has (or those whose key is in ``only``)."""
    keys = ["europarl-en-de", "europarl-de-en"] + [f"xquad-en-{lang}" for lang in XQUAD_TARGETS]
    unknown = sorted(set(only or ()) - set(keys))
    if unknown:
        raise SystemExit(f"no gold pair {', '.join(unknown)} (have: {', '.join(keys)})")
    out: list[GoldPair] = []
    for key in keys:
        if only and key not in only:
            continue
        kind, src, tgt = key.split("-")
        out.append(EuroparlPair(data, src, tgt, limit) if kind == "europarl" else XquadPair(data, tgt, limit, src))
    return out


@dataclass
class RunResult:
    scores: dict[tuple[str, str], tuple[float, ...]] = field(default_factory=dict)  # (pair key, method label)
    clism: dict[str, float] = field(default_factory=dict)  # XQuAD pair key → CLISM exact-gold rate
    seconds: dict[str, float] = field(default_factory=dict)  # aligner → alignment time


def aligner_for(name: str, args: argparse.Namespace):
    if name == "eflomal":
        return make_aligner("eflomal", n_samplers=args.eflomal_samplers, rel_iterations=args.eflomal_rel_iterations)
    return make_aligner(name, binary=str(tools_bin()))


def run_once(pairs: Sequence[GoldPair], columns: Sequence[Method], args: argparse.Namespace) -> RunResult:
    result = RunResult()
    clism_heuristic = PIPELINE_DEFAULTS["clism"].heuristic
    for pair in pairs:
        for aligner in sorted({m.aligner for m in columns}):
            start = time.perf_counter()
            forward, reverse = aligner_for(aligner, args).align_directional(pair.aligner_pairs())
            forward, reverse = forward[:len(pair)], reverse[:len(pair)]
            result.seconds[aligner] = result.seconds.get(aligner, 0.0) + time.perf_counter() - start
            symmetrised: dict[str, list[Links]] = {}
            for method in columns:
                if method.aligner != aligner:
                    continue
                if method.heuristic not in symmetrised:
                    symmetrised[method.heuristic] = [symmetrize(f, r, method.heuristic)
                                                     for f, r in zip(forward, reverse)]
                result.scores[(pair.key, method.label)] = pair.score(symmetrised[method.heuristic],
                                                                     method.projection)
            if aligner == "eflomal" and isinstance(pair, XquadPair):
                links = [symmetrize(f, r, clism_heuristic) for f, r in zip(forward, reverse)]
                result.clism[pair.key] = pair.clism_exact_gold(links)
            print(f"  {pair.name}: {aligner} aligned and scored ({time.perf_counter() - start:.0f} s)",
                  file=sys.stderr, flush=True)
    return result


def span(values: Sequence[float]) -> str:
    lo, hi = min(values), max(values)
    return f"{lo:.3f}" if f"{lo:.3f}" == f"{hi:.3f}" else f"{lo:.3f}–{hi:.3f}"


def table(pairs: Sequence[GoldPair], columns: Sequence[Method], runs: Sequence[RunResult]) -> str:
    """Markdown: rows = language pairs, columns = methods (min–max over runs), then means over the pairs."""
    head = ["pair", "measure"] + [m.label for m in columns] + ["CLISM exact-gold", "oracle"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for pair in pairs:
        cells = [pair.name, pair.measure]
        for method in columns:
            values = [run.scores[(pair.key, method.label)] for run in runs]
            cells.append(" / ".join(span([v[k] for v in values]) for k in range(len(values[0]))))
        is_qa = isinstance(pair, XquadPair)
        cells.append(span([run.clism[pair.key] for run in runs]) if is_qa else "")
        cells.append(f"{pair.oracle():.3f}" if is_qa else "")
        lines.append("| " + " | ".join(cells) + " |")
    # Mean over pairs of the first measure (entity F1, EM) and over XQuAD of char-F1, per run.
    for title, chosen, k in (("mean over all pairs (F1 / EM)", pairs, 0),
                             ("mean XQuAD char-F1", [p for p in pairs if isinstance(p, XquadPair)], 1)):
        if not chosen:
            continue
        cells = [title, ""]
        for method in columns:
            cells.append(span([sum(run.scores[(p.key, method.label)][k] for p in chosen) / len(chosen)
                               for run in runs]))
        lines.append("| " + " | ".join(cells + ["", ""]) + " |")
    return "\n".join(lines)


def worst_margin(pairs, columns, runs, baseline: str, candidate: str) -> float:
    """The smallest (candidate - baseline) over pairs, measures and runs (same run's alignment)."""
    return min(c - b for run in runs for p in pairs
               for c, b in zip(run.scores[(p.key, candidate)], run.scores[(p.key, baseline)]))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python bench/projection_gold.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="alignments per pair (eflomal cannot be seeded)")
    parser.add_argument("--only", nargs="+", metavar="PAIR", help="e.g. europarl-de-en xquad-en-zh")
    parser.add_argument("--limit", type=int, help="first N sentences / paragraphs of each pair (a quick look)")
    parser.add_argument("--no-fast-align", action="store_true", help="skip the fast_align columns")
    parser.add_argument("--eflomal-samplers", type=int, default=3)
    parser.add_argument("--eflomal-rel-iterations", type=float, default=0.5)
    parser.add_argument("--data", type=Path, default=None, help="shared data folder (default $POLYSPAN_DATA)")
    return parser


def fast_align_available() -> bool:
    return (tools_bin() / "fast_align").is_file()


def measure(args: argparse.Namespace, report_between_runs: bool = False):
    """``(pairs, columns, runs)`` of ``args.runs`` runs; with ``report_between_runs`` the table so far goes to
    stderr after each run but the last, in case a long measurement is cut short."""
    data = args.data or data_root()
    if not (data / "README.md").is_file():
        raise SystemExit(f"shared data not found at {data}: set POLYSPAN_DATA")
    pairs = gold_pairs(data, args.only, args.limit)
    columns = methods(not args.no_fast_align and fast_align_available())
    runs = []
    for n in range(args.runs):
        print(f"run {n + 1} of {args.runs}", file=sys.stderr, flush=True)
        runs.append(run_once(pairs, columns, args))
        if report_between_runs and n + 1 < args.runs:
            print(report(pairs, columns, runs, args), file=sys.stderr, flush=True)
    return pairs, columns, runs


def report(pairs, columns, runs, args) -> str:
    lines = [f"{len(runs)} run(s); eflomal {args.eflomal_samplers} samplers x {args.eflomal_rel_iterations} of its "
             f"iterations; XQuAD answers off the words: "
             f"{sum(p.answers_off_words for p in pairs if isinstance(p, XquadPair))}", "", table(pairs, columns, runs),
             ""]
    labels = [m.label for m in columns]
    for baseline, candidate in zip(("naive gdfa", "fast_align naive gdfa"), labels[3::2]):
        if baseline in labels:
            per_pair = ", ".join(f"{p.key} {worst_margin([p], columns, runs, baseline, candidate):+.4f}"
                                 for p in pairs)
            lines.append(f"worst margin of '{candidate}' over '{baseline}' (any pair, measure, run): "
                         f"{worst_margin(pairs, columns, runs, baseline, candidate):+.3f} ({per_pair})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    pairs, columns, runs = measure(args, report_between_runs=True)
    print(report(pairs, columns, runs, args))
    return 0


def bench_rows(quick: bool = False) -> list[tuple[str, str, str, str]]:
    """One run: the default's and the naive method's main figure per pair, and the worst margin."""
    args = build_parser().parse_args(["--runs", "1"] + (["--limit", "60", "--no-fast-align"] if quick else []))
    pairs, columns, runs = measure(args)
    default = columns[3].label
    rows = []
    for pair in pairs:
        for label in ("naive gdfa", default):
            value = runs[0].scores[(pair.key, label)]
            rows.append(("projection_gold", f"{pair.name} {label}", " / ".join(f"{v:.3f}" for v in value),
                         pair.measure))
    margin = worst_margin(pairs, columns, runs, "naive gdfa", default)
    rows.append(("projection_gold", "default minus naive gdfa, worst pair", f"{margin:+.3f}",
                 "≥ 0 on every pair is the goal"))
    return rows


if __name__ == "__main__":
    sys.exit(main())
