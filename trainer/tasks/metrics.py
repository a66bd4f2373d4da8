"""Evaluation metrics of the downstream tasks, and the per-language report the papers' tables use.

- Extractive QA: exact match and F1 under two answer normalisations ("scripts"), both always reported:
  ``squad``, the official SQuAD v1.1 script's (lower-case, drop ASCII punctuation, drop the English articles
  a/an/the, collapse white space) for every language, and ``mlqa``, MLQA's (Lewis et al. 2020,
  ``mlqa_evaluation_v1.py``): any Unicode punctuation (categories P*) dropped, the language's articles
  removed, Chinese segmented one token per CJK character. ``exact_match``/``f1`` are the script the dataset's
  publishers score with, so the numbers compare with published ones: ``mlqa`` for MLQA, ``squad`` for
  everything else - XQuAD and TyDi QA GoldP as XTREME scores them (Hu et al. 2020), SQuAD itself, and data
  of unknown origin (``qa_script``); the other script's figures are ``exact_match_squad``/``f1_squad`` and
  ``exact_match_mlqa``/``f1_mlqa``. They differ most where articles or non-ASCII punctuation are common:
  German XQuAD answers lose "der/die/das" under MLQA's normalisation only. Scores take the maximum over the
  gold answers of a question.
- NER (and every span task in MRC form): entity-level exact match precision / recall / F1 with CoNLL
  semantics - an entity counts only if its boundaries and type both match (``schemas.tags.spans_from_tags``
  reads the entities of any tag scheme as conlleval does).
- Sentence-pair classification: accuracy.
- Reports: scores per language, their average over all languages, and the cross-lingual transfer gap, the
  source language's score minus the average over the target languages (paper 004, Table 6), as JSON and as a
  Markdown table.

Corpus-level scores are percentages (0-100), as in the papers' tables.
"""
from __future__ import annotations

import json
import math
import re
import string
import sys
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

from schemas.tags import Span, spans_from_tags

# ---------------------------------------------------------------------------------------------------------
# SQuAD v1.1 (English)

_SQUAD_PUNCTUATION = frozenset(string.punctuation)
_SQUAD_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_squad(text: str) -> str:
    """The official SQuAD v1.1 answer normalisation."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _SQUAD_PUNCTUATION)
    text = _SQUAD_ARTICLES.sub(" ", text)
    return " ".join(text.split())


# ---------------------------------------------------------------------------------------------------------
# MLQA (multilingual)

# Every Unicode punctuation character plus ASCII punctuation (which includes symbols such as $ and +).
_UNICODE_PUNCTUATION = frozenset(
    chr(code) for code in range(sys.maxunicode + 1) if unicodedata.category(chr(code)).startswith("P")
) | _SQUAD_PUNCTUATION

# The articles MLQA removes per language. Arabic's pattern in the official script removes the definite
# article "ال" wherever it occurs (its other alternative can never match); kept as is so scores stay
# comparable with published MLQA numbers.
_MLQA_ARTICLES = {
    "en": re.compile(r"\b(a|an|the)\b"),
    "es": re.compile(r"\b(un|una|unos|unas|el|la|los|las)\b"),
    "vi": re.compile(r"\b(của|là|cái|chiếc|những)\b"),
    "de": re.compile(r"\b(ein|eine|einen|einem|eines|einer|der|die|das|den|dem|des)\b"),
    "ar": re.compile(r"ال"),
}
# Languages written without spaces between words: one token per CJK character. MLQA lists Chinese only;
# Japanese kanji get the same treatment here (an extension: MLQA has no Japanese).
MIXED_SEGMENTATION_LANGS = frozenset({"zh", "ja"})
# The CJK range of the official script (unified ideographs U+4E00..U+9FA5).
_CJK = re.compile(r"[\u4e00-\u9fa5]")


def mixed_segmentation(text: str) -> list[str]:
    """One token per CJK character or punctuation mark; other runs split on white space (MLQA)."""
    tokens: list[str] = []
    run: list[str] = []
    for ch in text:
        if _CJK.match(ch) or ch in _UNICODE_PUNCTUATION:
            tokens.extend("".join(run).split())
            run.clear()
            tokens.append(ch)
        else:
            run.append(ch)
    tokens.extend("".join(run).split())
    return tokens


def normalize_mlqa(text: str, lang: str) -> str:
    """MLQA's normalisation for ``lang``: lower-case, drop Unicode punctuation, drop the language's articles,
    re-tokenise (per character for Chinese) and join with single spaces. Languages MLQA does not cover
    (e.g. TyDi QA's Finnish) get no article removal and white-space tokens, where MLQA would refuse."""
    text = "".join(ch for ch in text.lower() if ch not in _UNICODE_PUNCTUATION)
    articles = _MLQA_ARTICLES.get(lang)
    if articles is not None:
        text = articles.sub(" ", text)
    tokens = mixed_segmentation(text) if lang in MIXED_SEGMENTATION_LANGS else text.split()
    return " ".join(token for token in tokens if token.strip())


QA_SCRIPTS = ("squad", "mlqa")

# MLQA's released files: MLQA_V1/{dev,test}/{dev,test}-context-<c>-question-<q>.json.
_MLQA_FILE = re.compile(r"mlqa|context-[a-z]{2}-question-[a-z]{2}", re.IGNORECASE)


def qa_script(source: str) -> str:
    """The normalisation the publishers of the data at ``source`` (a path) score with: ``mlqa`` for MLQA's
    files (its folder or file names say so), ``squad`` otherwise (XQuAD and TyDi QA GoldP as XTREME does)."""
    return "mlqa" if _MLQA_FILE.search(str(source)) else "squad"


def normalize_answer(text: str, lang: str = "en", script: str = "mlqa") -> str:
    """The answer normalisation of ``script``: SQuAD v1.1's (the same for every language) or MLQA's for
    ``lang``."""
    if script == "squad":
        return normalize_squad(text)
    if script == "mlqa":
        return normalize_mlqa(text, lang)
    raise ValueError(f"unknown QA script {script!r} (known: {', '.join(QA_SCRIPTS)})")


def exact_match(prediction: str, gold: str, lang: str = "en", script: str = "mlqa") -> float:
    return float(normalize_answer(prediction, lang, script) == normalize_answer(gold, lang, script))


def f1(prediction: str, gold: str, lang: str = "en", script: str = "mlqa") -> float:
    """Token-overlap F1 of two answers after normalisation (bag of tokens, as in both official scripts)."""
    predicted = normalize_answer(prediction, lang, script).split()
    expected = normalize_answer(gold, lang, script).split()
    common = Counter(predicted) & Counter(expected)
    overlap = sum(common.values())
    if overlap == 0:
        return 0.0
    precision, recall = overlap / len(predicted), overlap / len(expected)
    return 2 * precision * recall / (precision + recall)


def max_over_golds(metric, prediction: str, golds: Sequence[str], lang: str = "en", script: str = "mlqa") -> float:
    """The best score of ``prediction`` against any gold answer (official scripts' ``metric_max_over_
    ground_truths``). A question without gold answers is an error: SQuAD v1.1 data always has one."""
    if not golds:
        raise ValueError("a question without gold answers cannot be scored")
    return max(metric(prediction, gold, lang, script) for gold in golds)


def qa_scores(predictions: Mapping[str, str], golds: Mapping[str, Sequence[str]], lang: str = "en",
              missing: str = "zero", script: str = "squad") -> dict:
    """Corpus EM and F1 (percent) of ``predictions`` (question id -> text) against ``golds`` (question id ->
    answer texts) under both scripts. A question without a prediction scores 0 (``missing="zero"``, what the
    official scripts do) or is an error (``missing="error"``). Returns ``exact_match`` and ``f1`` under
    ``script`` (the data's publishers', ``qa_script``), ``exact_match_<s>``/``f1_<s>`` for both scripts,
    ``script`` and ``count``."""
    if missing not in ("zero", "error"):
        raise ValueError(f"missing must be 'zero' or 'error', not {missing!r}")
    if script not in QA_SCRIPTS:
        raise ValueError(f"unknown QA script {script!r} (known: {', '.join(QA_SCRIPTS)})")
    absent = [qid for qid in golds if qid not in predictions]
    if absent and missing == "error":
        raise ValueError(f"{len(absent)} questions have no prediction, e.g. {absent[0]!r}")
    count = len(golds)
    scores: dict = {}
    for name in QA_SCRIPTS:
        em_total = f1_total = 0.0
        for qid, answers in golds.items():
            if qid in predictions:
                em_total += max_over_golds(exact_match, predictions[qid], answers, lang, name)
                f1_total += max_over_golds(f1, predictions[qid], answers, lang, name)
        scores[f"exact_match_{name}"] = 100.0 * em_total / count if count else 0.0
        scores[f"f1_{name}"] = 100.0 * f1_total / count if count else 0.0
    return {"exact_match": scores[f"exact_match_{script}"], "f1": scores[f"f1_{script}"], **scores,
            "script": script, "count": count}


# ---------------------------------------------------------------------------------------------------------
# Entity-level P/R/F1 (CoNLL semantics)

@dataclass
class SpanCounts:
    """True positives, predicted and gold entity counts, overall and per type."""

    correct: int = 0
    predicted: int = 0
    gold: int = 0
    per_type: dict[str, list[int]] = field(default_factory=dict)  # type -> [correct, predicted, gold]

    def add(self, gold: Iterable[Span], predicted: Iterable[Span]) -> None:
        gold_set, predicted_set = set(gold), set(predicted)
        hits = gold_set & predicted_set
        self.correct += len(hits)
        self.predicted += len(predicted_set)
        self.gold += len(gold_set)
        for index, spans in ((0, hits), (1, predicted_set), (2, gold_set)):
            for span in spans:
                self.per_type.setdefault(span.label, [0, 0, 0])[index] += 1

    def scores(self) -> dict:
        """Precision, recall, F1 (percent) overall and per type, plus the counts."""
        result = _prf(self.correct, self.predicted, self.gold)
        result["per_type"] = {label: _prf(*counts) for label, counts in sorted(self.per_type.items())}
        return result


def _prf(correct: int, predicted: int, gold: int) -> dict:
    precision = correct / predicted if predicted else 0.0
    recall = correct / gold if gold else 0.0
    f = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": 100.0 * precision, "recall": 100.0 * recall, "f1": 100.0 * f,
            "correct": correct, "predicted": predicted, "gold": gold}


def entity_scores(gold_tags: Sequence[Sequence[str]], predicted_tags: Sequence[Sequence[str]]) -> dict:
    """Entity-level exact-match P/R/F1 (percent) of tag sequences in any scheme (conlleval's chunks)."""
    if len(gold_tags) != len(predicted_tags):
        raise ValueError(f"{len(gold_tags)} gold sentences but {len(predicted_tags)} predicted")
    counts = SpanCounts()
    for n, (gold, predicted) in enumerate(zip(gold_tags, predicted_tags)):
        if len(gold) != len(predicted):
            raise ValueError(f"sentence {n}: {len(gold)} gold tags but {len(predicted)} predicted")
        counts.add(spans_from_tags(list(gold)), spans_from_tags(list(predicted)))
    return counts.scores()


def span_scores(gold_spans: Sequence[Iterable[Span]], predicted_spans: Sequence[Iterable[Span]]) -> dict:
    """The same scores for entities given as spans (NER or ABSA in MRC form)."""
    if len(gold_spans) != len(predicted_spans):
        raise ValueError(f"{len(gold_spans)} gold sentences but {len(predicted_spans)} predicted")
    counts = SpanCounts()
    for gold, predicted in zip(gold_spans, predicted_spans):
        counts.add(gold, predicted)
    return counts.scores()


def accuracy(gold: Sequence, predicted: Sequence) -> dict:
    """Accuracy (percent) and the count."""
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold labels but {len(predicted)} predicted")
    correct = sum(g == p for g, p in zip(gold, predicted))
    return {"accuracy": 100.0 * correct / len(gold) if gold else 0.0, "count": len(gold)}


# ---------------------------------------------------------------------------------------------------------
# Reports per language

def language_report(per_language: Mapping[str, Mapping[str, float]], source_lang: str = "en",
                    metrics: Sequence[str] | None = None) -> dict:
    """Scores per language, their average over all languages, the average over the target languages and
    the cross-lingual transfer gap (source minus target average, paper 004 Table 6; absent without the source
    language or without a target).

    ``per_language`` maps a language to its metric dict; only numeric entries of ``metrics`` (default: every
    numeric key the languages share, minus ``count``) are reported."""
    if not per_language:
        raise ValueError("no languages to report")
    languages = list(per_language)
    if metrics is None:
        shared = set.intersection(*(set(scores) for scores in per_language.values()))
        metrics = [key for key in per_language[languages[0]]
                   if key in shared and key != "count" and _is_number(per_language[languages[0]][key])]
    for lang in languages:
        for metric in metrics:
            if not _is_number(per_language[lang].get(metric)):
                raise ValueError(f"language {lang!r} has no numeric {metric!r}")
    targets = [lang for lang in languages if lang != source_lang]
    report = {
        "metrics": list(metrics),
        "languages": {lang: {m: float(per_language[lang][m]) for m in metrics} for lang in languages},
        "average": {m: _mean(per_language[lang][m] for lang in languages) for m in metrics},
        "source_lang": source_lang,
    }
    if targets:
        report["target_average"] = {m: _mean(per_language[lang][m] for lang in targets) for m in metrics}
    if source_lang in per_language and targets:
        report["transfer_gap"] = {m: float(per_language[source_lang][m]) - report["target_average"][m]
                                  for m in metrics}
    return report


def report_json(report: dict) -> str:
    return json.dumps(report, indent=2, ensure_ascii=False, sort_keys=False)


def report_markdown(report: dict, digits: int = 1) -> str:
    """One row per metric, one column per language, then Avg (all languages) and Gap (source - targets)."""
    languages = list(report["languages"])
    header = ["metric", *languages, "Avg"] + (["Gap"] if "transfer_gap" in report else [])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for metric in report["metrics"]:
        cells = [metric] + [f"{report['languages'][lang][metric]:.{digits}f}" for lang in languages]
        cells.append(f"{report['average'][metric]:.{digits}f}")
        if "transfer_gap" in report:
            cells.append(f"{report['transfer_gap'][metric]:.{digits}f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _mean(values: Iterable[float]) -> float:
    values = [float(v) for v in values]
    return sum(values) / len(values)
