"""The per-language report of a fine-tuned model: the task's metrics for every language (``evaluate_sources``
scores data entries of several languages), their average and the transfer gap (``metrics.language_report``),
example counts and what produced it; written as JSON and Markdown (``eval_report.json`` / ``.md``) by
``trainer.finetune`` and ``trainer.evaluate`` alike, with the retention table (paper 003 Table 1) when the run
measured one."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from torch import nn

from schemas.errors import InputDataError
from trainer.data.readers import DataSource
from trainer.tasks.base import Task
from trainer.tasks.metrics import language_report, report_json, report_markdown
from trainer.tasks.paired import evaluate_task

REPORT_NAME = "eval_report"


def make_report(task: Task, per_language: dict[str, dict], **info) -> dict:
    """``metrics.language_report`` of the task's metrics, plus the example count per language and ``info``."""
    report = language_report(per_language, task.settings.source_lang, list(task.metrics))
    report["counts"] = {lang: int(scores.get("count", 0)) for lang, scores in per_language.items()}
    report["task"], report["head"] = task.name, task.head
    scripts = {lang: scores["script"] for lang, scores in per_language.items() if "script" in scores}
    if scripts:  # QA: which normalisation exact_match/f1 are under, per language (metrics.qa_script)
        report["scripts"] = scripts
    report.update(info)
    return report


def json_lines(rows: Sequence[dict]) -> str:
    """Rows as JSON lines (UTF-8 text kept as is): predictions, as trainer.predict and
    ``evaluation.predictions`` write them."""
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def write_report(report: dict, directory: str | Path, name: str = REPORT_NAME) -> tuple[Path, Path]:
    """``<name>.json`` and ``<name>.md`` under ``directory``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    json_path, markdown_path = directory / f"{name}.json", directory / f"{name}.md"
    json_path.write_text(report_json(report) + "\n", encoding="utf-8")
    markdown = report_markdown(report)
    if report.get("scripts"):
        markdown += ("\nexact_match/f1 use the normalisation of each dataset's publishers (squad: the SQuAD v1.1 "
                     "script, as XTREME scores XQuAD and TyDi QA; mlqa: MLQA's); the suffixed rows give both: "
                     + ", ".join(f"{lang} {script}" for lang, script in report["scripts"].items()) + ".\n")
    if report.get("retention"):
        markdown += "\n" + retention_markdown(report["retention"])
    markdown_path.write_text(markdown, encoding="utf-8")
    return json_path, markdown_path


def flat_scores(report: dict) -> dict:
    """Per-language and average metrics as flat keys (``de_f1``, ``avg_f1``) for a metrics record."""
    flat = {f"{lang}_{metric}": value for lang, scores in report["languages"].items()
            for metric, value in scores.items()}
    flat.update({f"avg_{metric}": value for metric, value in report["average"].items()})
    return flat


def retention_markdown(retention: dict, digits: int = 1) -> str:
    """Paper 003's Table 1 measurement as one table: a row per language (MLM probe) or XSR probe name - a name
    shared by both fills one row - with perplexity and P@1/5/10 (percent) before and after fine-tuning (or
    one column each, ``now``, when ``trainer.evaluate`` measures a single model)."""
    names = list(dict.fromkeys([*retention.get("mlm", {}), *retention.get("xsr", {})]))
    whens = [w for w in ("before", "after", "now") if any(
        w in figures for kind in ("mlm", "xsr") for figures in retention.get(kind, {}).values())] or ["before", "after"]
    header = ["lang"] + [f"perplexity {when}" for when in whens] + [
        f"P@{k} {when}" for k in (1, 5, 10) for when in whens]
    title = "before and after fine-tuning" if whens != ["now"] else "of this model"
    lines = [f"Retention (MLM perplexity and XSR P@k on held-out probes, {title}):", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]

    def cell(figures: dict | None, key: str) -> str:
        return "-" if not figures or key not in figures else f"{figures[key]:.{digits}f}"

    for name in names:
        mlm, xsr = retention.get("mlm", {}).get(name, {}), retention.get("xsr", {}).get(name, {})
        cells = [name] + [cell(mlm.get(when), "perplexity") for when in whens]
        cells += [cell(xsr.get(when), f"p@{k}") for k in (1, 5, 10) for when in whens]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def evaluate_sources(task: Task, model: nn.Module, tokenizer, sources: Sequence[DataSource],
                     batch_size: int = 32, translations: Sequence[DataSource] = ()) -> dict[str, dict]:
    """Metrics per language of the data entries ``sources`` (one language each); a FILTER model also reads
    ``translations``, each language's data translated into the source language."""
    translated = {source.lang: task.read(source) for source in translations}
    per_language = {}
    for source in sources:
        if source.lang in per_language:
            raise InputDataError(f"language {source.lang!r} is given twice")
        examples = task.read(source)
        if not examples:
            raise InputDataError(f"{source.path}: no examples")
        per_language.update(evaluate_task(task, model, tokenizer, examples, batch_size, translated))
    # The source language first (the report's first column), then the others as given.
    order = sorted(per_language, key=lambda lang: lang != task.settings.source_lang)
    return {lang: per_language[lang] for lang in order}
