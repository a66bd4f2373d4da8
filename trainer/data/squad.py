"""SQuAD-format QA files (SQuAD v1.1, XQuAD, MLQA, TyDi QA GoldP) read into ``QAExample`` rows, every malformed
entry named by file and position."""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from schemas.errors import UserError


class QADataError(UserError, ValueError):
    """Malformed QA input; the message names the file and the position in it."""


@dataclass
class QAExample:
    """One question over one context; answers are ``{"text", "start", "end"}`` character spans."""

    id: str
    lang: str
    question: str
    context: str
    answers: list[dict]
    title: str = ""
    source: str = ""  # file and position the example was read from

    def as_row(self) -> dict:
        """The dict form collators take (``query`` as in MRC shards)."""
        return {"id": self.id, "lang": self.lang, "query": self.question, "context": self.context,
                "answers": list(self.answers)}


@dataclass
class QAReadStats:
    articles: int = 0
    paragraphs: int = 0
    questions: int = 0
    answers: int = 0
    answers_relocated: int = 0  # misplaced answer_start repaired by ``misplaced="nearest"``
    questions_without_answers: int = 0


# File-name patterns that give the language of a file: xquad.de.json, MLQA's
# dev-context-de-question-de.json (the context language), TyDi QA's arabic_tydiqa_dev.json.
_TYDI_LANGUAGES = {"arabic": "ar", "bengali": "bn", "english": "en", "finnish": "fi", "indonesian": "id",
                   "japanese": "ja", "korean": "ko", "russian": "ru", "swahili": "sw", "telugu": "te",
                   "thai": "th"}


def infer_lang(path: str | os.PathLike) -> str | None:
    """The language a QA file's name gives, or None."""
    name = Path(path).name.lower()
    if match := re.match(r"xquad\.([a-z]{2})\.json$", name):
        return match.group(1)
    if match := re.search(r"context-([a-z]{2})-question-[a-z]{2}", name):
        return match.group(1)
    if match := re.match(r"([a-z]+)[-_]tydiqa", name):
        return _TYDI_LANGUAGES.get(match.group(1))
    return None


def read_squad_json(path: str | os.PathLike, lang: str | None = None, misplaced: str = "error",
                    stats: QAReadStats | None = None) -> list[QAExample]:
    """Every question of a SQuAD v1.1-format file (XQuAD, MLQA, TyDi QA GoldP) as a ``QAExample``.

    ``lang`` defaults to what the file name says (``infer_lang``). An answer whose ``answer_start`` does not
    point at its text is an error (``misplaced="error"``) or moved to the nearest occurrence of the text
    and counted (``misplaced="nearest"``)."""
    if misplaced not in ("error", "nearest"):
        raise ValueError(f"misplaced must be 'error' or 'nearest', not {misplaced!r}")
    where = os.fspath(path)
    lang = lang or infer_lang(path)
    if lang is None:
        raise QADataError(f"{where}: cannot tell the language from the file name; pass lang")
    stats = stats if stats is not None else QAReadStats()
    try:
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle)
    except json.JSONDecodeError as err:
        raise QADataError(f"{where}:{err.lineno}:{err.colno}: not valid JSON: {err.msg}") from None
    except UnicodeDecodeError as err:
        raise QADataError(f"{where}: byte offset {err.start}: not valid UTF-8") from None
    if not isinstance(document, dict) or not isinstance(document.get("data"), list):
        raise QADataError(f"{where}: expected an object with a 'data' list (SQuAD v1.1 format)")
    examples = []
    for a, article in enumerate(document["data"]):
        position = f"data[{a}]"
        paragraphs = _get(article, "paragraphs", list, where, position)
        title = article.get("title", "") if isinstance(article, dict) else ""
        stats.articles += 1
        for p, paragraph in enumerate(paragraphs):
            position = f"data[{a}].paragraphs[{p}]"
            context = _get(paragraph, "context", str, where, position)
            stats.paragraphs += 1
            for q, qa in enumerate(_get(paragraph, "qas", list, where, position)):
                position = f"data[{a}].paragraphs[{p}].qas[{q}]"
                qid = _get(qa, "id", str, where, position)
                question = _get(qa, "question", str, where, position)
                answers = []
                for n, answer in enumerate(_get(qa, "answers", list, where, position)):
                    answers.append(_answer(answer, context, where, f"{position}.answers[{n}]", misplaced, stats))
                stats.questions += 1
                stats.answers += len(answers)
                stats.questions_without_answers += not answers
                examples.append(QAExample(qid, lang, question, context, answers, title, f"{where}:{position}"))
    return examples


def _get(container, key: str, kind: type, where: str, position: str):
    if not isinstance(container, dict):
        raise QADataError(f"{where}: {position}: expected an object, found {type(container).__name__}")
    if key not in container:
        raise QADataError(f"{where}: {position}: missing {key!r}")
    value = container[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise QADataError(f"{where}: {position}.{key}: expected {kind.__name__}, found {type(value).__name__}")
    return value


def _answer(answer, context: str, where: str, position: str, misplaced: str, stats: QAReadStats) -> dict:
    text = _get(answer, "text", str, where, position)
    start = _get(answer, "answer_start", int, where, position)
    if not text:
        raise QADataError(f"{where}: {position}: empty answer text")
    if context[start:start + len(text)] != text:
        found = [m.start() for m in re.finditer(re.escape(text), context)]
        if misplaced == "error" or not found:
            raise QADataError(f"{where}: {position}: answer {text!r} is not at answer_start {start} "
                              f"(the context there reads {context[start:start + len(text)]!r})")
        start = min(found, key=lambda s: abs(s - start))
        stats.answers_relocated += 1
    return {"text": text, "start": start, "end": start + len(text)}
