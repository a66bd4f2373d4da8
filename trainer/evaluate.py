"""Evaluate a fine-tuned model per language: ``python -m trainer.evaluate --model DIR --data LANG=PATH ...``.

``DIR`` is a checkpoint of ``trainer.finetune`` (or its output directory: the latest checkpoint is taken). The
checkpoint records its task, head, labels and decoding settings, so nothing else is needed; ``--task`` and
``--head`` are checked against it. A directory without that record (e.g. an mPMR pretraining checkpoint, whose
extractor answers questions without fine-tuning) needs ``--task`` and ``--head``; head parameters are then
loaded where their names match (``heads.safetensors``). A FILTER model reads every example with its translation
into the source language: ``--translations LANG=PATH`` (paired as the run's ``model.filter.pair_by`` says).

Metrics: SQuAD v1.1 EM/F1 for English QA and MLQA's normalisation for other languages; entity-level F1 for NER
(CoNLL semantics); accuracy for sentence pairs. The report has every language, the average, and the transfer
gap (source language minus the average of the others, paper 004 Table 6), printed as a Markdown table and
written as JSON with ``--json-out``.

Examples::

    python -m trainer.evaluate --model out/finetune-qa --data en=../shared/data/qa/xquad/xquad.en.json \\
        de=../shared/data/qa/xquad/xquad.de.json --json-out out/finetune-qa/xquad.json
    python -m trainer.evaluate --model out/finetune-ner --encoding es=latin-1 \\
        --data en=../shared/data/ner/conll2003/eng.testb es=../shared/data/ner/conll2002/esp.testb
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Sequence

import torch
from safetensors.torch import load_file
from torch import nn
from transformers import AutoModel, AutoTokenizer

from trainer.checkpoint import HEADS_FILE, STATE_FILE, head_state, latest_complete_checkpoint, load_module_weights
from trainer.cli import run_command
from trainer.finetune_config import TASK_HEADS
from trainer.finetune_tasks import TaskSpec
from trainer.loop import CHECKPOINTS
from trainer.metrics import language_report, report_json, report_markdown
from trainer.task_data import DataSource

logger = logging.getLogger("trainer.evaluate")
REPORT_NAME = "eval_report"


# ---- reports ----------------------------------------------------------------------------------------------

def make_report(spec: TaskSpec, per_language: dict[str, dict], **info) -> dict:
    """``metrics.language_report`` of the task's metrics, plus the example count per language and ``info``."""
    report = language_report(per_language, spec.source_lang, spec.metrics)
    report["counts"] = {lang: int(scores.get("count", 0)) for lang, scores in per_language.items()}
    report["task"], report["head"] = spec.name, spec.head
    report.update(info)
    return report


def write_report(report: dict, directory: str | Path, name: str = REPORT_NAME) -> tuple[Path, Path]:
    """``<name>.json`` and ``<name>.md`` under ``directory``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    json_path, markdown_path = directory / f"{name}.json", directory / f"{name}.md"
    json_path.write_text(report_json(report) + "\n", encoding="utf-8")
    markdown = report_markdown(report)
    if report.get("retention"):
        markdown += "\n" + retention_markdown(report["retention"])
    markdown_path.write_text(markdown, encoding="utf-8")
    return json_path, markdown_path


def retention_markdown(retention: dict, digits: int = 1) -> str:
    """Paper 003's Table 1 measurement as one table: a row per language (MLM probe) or XSR probe name - a name
    shared by both fills one row - with perplexity and P@1/5/10 (percent) before and after fine-tuning."""
    names = list(dict.fromkeys([*retention.get("mlm", {}), *retention.get("xsr", {})]))
    header = ["lang", "perplexity before", "perplexity after"] + [
        f"P@{k} {when}" for k in (1, 5, 10) for when in ("before", "after")]
    lines = ["Retention (MLM perplexity and XSR P@k on held-out probes, before and after fine-tuning):", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]

    def cell(figures: dict | None, key: str) -> str:
        return "-" if not figures or key not in figures else f"{figures[key]:.{digits}f}"

    for name in names:
        mlm, xsr = retention.get("mlm", {}).get(name, {}), retention.get("xsr", {}).get(name, {})
        cells = [name, cell(mlm.get("before"), "perplexity"), cell(mlm.get("after"), "perplexity")]
        cells += [cell(xsr.get(when), f"p@{k}") for k in (1, 5, 10) for when in ("before", "after")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


# ---- models -----------------------------------------------------------------------------------------------

def encoder_without_pooler(name_or_path: str):
    """``AutoModel.from_pretrained`` without the pooler (the heads read token states; training saves no pooler)."""
    try:
        return AutoModel.from_pretrained(name_or_path, add_pooling_layer=False)
    except TypeError:
        return AutoModel.from_pretrained(name_or_path)


def load_matching_heads(model: nn.Module, directory: str | Path) -> tuple[list[str], list[str]]:
    """Load the parameters of ``<directory>/heads.safetensors`` whose names and shapes match ``model``'s own
    heads (an mPMR extractor into ``ExtractorQA``, CLISM's W_s/W_e into ``QueQA``). Returns (loaded, ignored)."""
    path = Path(directory) / HEADS_FILE
    if not path.is_file():
        return [], []
    saved = load_file(str(path))
    own = head_state(model)
    loaded = sorted(k for k, v in saved.items() if k in own and own[k].shape == v.shape)
    ignored = sorted(set(saved) - set(loaded))
    if loaded:
        model.load_state_dict({k: saved[k] for k in loaded}, strict=False)
    return loaded, ignored


def resolve_checkpoint(directory: str | Path) -> Path:
    """A checkpoint directory itself, or the latest complete checkpoint of a run's output directory."""
    directory = Path(directory)
    if (directory / STATE_FILE).is_file() or (directory / "config.json").is_file():
        return directory
    latest = latest_complete_checkpoint(directory / CHECKPOINTS)
    if latest is None:
        raise FileNotFoundError(f"{directory}: neither a checkpoint nor a run directory with complete checkpoints")
    return latest


def stored_task(checkpoint: Path) -> TaskSpec | None:
    state_file = checkpoint / STATE_FILE
    if not state_file.is_file():
        return None
    state = json.loads(state_file.read_text(encoding="utf-8"))
    task = state.get("run", {}).get("task")
    return TaskSpec.from_dict(task) if task else None


def load_finetuned(directory: str | Path, task: str | None = None, head: str | None = None,
                   device: torch.device | str = "cpu"):
    """``(spec, model, tokenizer, checkpoint)`` of a fine-tuned checkpoint (or a plain encoder directory with
    ``task``/``head`` given)."""
    checkpoint = resolve_checkpoint(directory)
    spec = stored_task(checkpoint)
    if spec is None:
        if task is None:
            raise ValueError(f"{checkpoint} records no task (not a trainer.finetune checkpoint): pass --task and "
                             "--head")
        spec = TaskSpec(name=task, head=head or TASK_HEADS[task][0])
        if spec.name == "pair":
            spec.fit_labels([])
        if spec.name == "ner":
            raise ValueError("an NER head needs its label set: evaluate a trainer.finetune checkpoint")
    else:
        for given, stored, what in ((task, spec.name, "task"), (head, spec.head, "head")):
            if given is not None and given != stored:
                raise ValueError(f"{checkpoint} holds a {what} {stored!r} model, not {given!r}")
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    model = spec.build_model(encoder_without_pooler(str(checkpoint)))
    if stored_task(checkpoint) is not None:
        load_module_weights(checkpoint, model)  # strict: every head parameter must be there
    else:
        loaded, _ = load_matching_heads(model, checkpoint)
        logger.info("loaded head parameters %s from %s", loaded or "none", checkpoint)
    return spec, model.to(device).eval(), tokenizer, checkpoint


def evaluate_sources(spec: TaskSpec, model: nn.Module, tokenizer, sources: Sequence[DataSource],
                     batch_size: int = 32, translations: Sequence[DataSource] = ()) -> dict[str, dict]:
    """Metrics per language of the data entries ``sources`` (one language each); a FILTER model also reads
    ``translations``, each language's data translated into the source language."""
    translated = {source.lang: spec.read(source) for source in translations}
    per_language = {}
    for source in sources:
        if source.lang in per_language:
            raise ValueError(f"language {source.lang!r} is given twice")
        examples = spec.read(source)
        if not examples:
            raise ValueError(f"{source.path}: no examples")
        per_language.update(spec.evaluate(model, tokenizer, examples, batch_size, translated))
    # The source language first (the report's first column), then the others as given.
    return {lang: per_language[lang] for lang in sorted(per_language, key=lambda lang: lang != spec.source_lang)}


# ---- command line -----------------------------------------------------------------------------------------

def _data_arguments(values: Sequence[str], encodings: Sequence[str], limit: int | None) -> list[DataSource]:
    """``LANG=PATH`` entries; ``encodings`` are ``ENCODING`` (every file) or ``LANG=ENCODING`` (one language)."""
    default, per_lang = "utf-8", {}
    for value in encodings:
        lang, sep, encoding = value.partition("=")
        if sep:
            per_lang[lang.strip()] = encoding.strip()
        else:
            default = value.strip()
    sources = []
    for value in values:
        lang, sep, path = value.partition("=")
        if not sep or not lang.strip() or not path.strip():
            raise ValueError(f"--data takes LANG=PATH, got {value!r}")
        lang = lang.strip()
        sources.append(DataSource(lang, path.strip(), encoding=per_lang.get(lang, default), limit=limit))
    return sources


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m trainer.evaluate", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("Examples::")[1])
    parser.add_argument("--model", required=True, help="checkpoint directory or trainer.finetune output directory")
    parser.add_argument("--task", choices=sorted(TASK_HEADS), help="checked against the checkpoint's task")
    parser.add_argument("--head", help="checked against the checkpoint's head")
    parser.add_argument("--data", nargs="+", required=True, metavar="LANG=PATH",
                        help="evaluation files (SQuAD JSON, CoNLL, TSV) or dataset directories, one per language")
    parser.add_argument("--translations", nargs="+", default=[], metavar="LANG=PATH",
                        help="FILTER models: each language's evaluation data translated into the source language")
    parser.add_argument("--source-lang", help="the language the transfer gap is measured from (default: the "
                                              "checkpoint's source language)")
    parser.add_argument("--encoding", action="append", default=[], metavar="[LANG=]ENCODING",
                        help="encoding of CoNLL files, of all or of one language (CoNLL-2002: latin-1)")
    parser.add_argument("--limit", type=int, help="examples read per file (default: all)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda:0, ...")
    parser.add_argument("--json-out", help="write the report as JSON here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_command(lambda: _command(args), logger)


def _command(args: argparse.Namespace) -> int:
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          "cpu" if args.device == "auto" else args.device)
    spec, model, tokenizer, checkpoint = load_finetuned(args.model, args.task, args.head, device)
    if args.source_lang:
        spec.source_lang = args.source_lang
    sources = _data_arguments(args.data, args.encoding, args.limit)
    translations = _data_arguments(args.translations, args.encoding, args.limit)
    per_language = evaluate_sources(spec, model, tokenizer, sources, args.batch_size, translations)
    report = make_report(spec, per_language, model=str(checkpoint), data={s.lang: s.path for s in sources})
    if args.json_out:
        Path(args.json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json_out).write_text(report_json(report) + "\n", encoding="utf-8")
    print(report_markdown(report), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
