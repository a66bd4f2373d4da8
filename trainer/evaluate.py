"""Evaluate a fine-tuned model per language: ``python -m trainer.evaluate --model DIR --data LANG=PATH ...``.

``DIR`` is a checkpoint of ``trainer.finetune`` (or its output directory: the latest checkpoint is taken). The
checkpoint records its task, head, labels and decoding settings, so nothing else is needed; ``--task`` and
``--head`` are checked against it. A directory without that record (e.g. an mPMR pretraining checkpoint, whose
extractor answers questions without fine-tuning) needs ``--task`` and ``--head``; head parameters are then
loaded where their names match (``heads.safetensors``). A FILTER model reads every example with its translation
into the source language: ``--translations LANG=PATH`` (paired as the run's ``model.filter.pair_by`` says).

Retention (paper 003 Table 1) of the same model: ``--xsr NAME=SOURCE,TARGET`` gives cross-lingual retrieval
P@1/5/10 on line-parallel files (mean-pooled encoder states, cosine), ``--mlm LANG=FILE`` MLM perplexity on
one-sentence-per-line files, scored by the MLM head of the backbone the run was fine-tuned from (or
``--mlm-head``), masks keyed by sentence id: the figures ``trainer.finetune`` reports as "after" for the same
probes. Each probe is ``--probe-size`` items after ``--probe-skip`` lines.

Metrics: SQuAD v1.1 EM/F1 for English QA and MLQA's normalisation for other languages; entity-level F1 for NER
(CoNLL semantics); accuracy for sentence pairs. The report has every language, the average, and the transfer
gap (source language minus the average of the others, paper 004 Table 6), printed as a Markdown table and
written as JSON with ``--json-out``.

Examples::

    python -m trainer.evaluate --model out/finetune-qa --data en=../shared/data/qa/xquad/xquad.en.json \\
        de=../shared/data/qa/xquad/xquad.de.json --json-out out/finetune-qa/xquad.json
    python -m trainer.evaluate --model out/finetune-ner --encoding es=latin-1 \\
        --data en=../shared/data/ner/conll2003/eng.testb es=../shared/data/ner/conll2002/esp.testb
    python -m trainer.evaluate --model out/finetune-ner --mlm en=../shared/data/parallel/tatoeba.deu-eng.eng \\
        --xsr de_en=../shared/data/parallel/tatoeba.deu-eng.deu,../shared/data/parallel/tatoeba.deu-eng.eng
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Sequence

from schemas.errors import UsageError
from trainer.adaptation.probe_config import ProbeConfig
from trainer.cli import command_device, run_command
from trainer.data.readers import DataSource
from trainer.tasks.metrics import report_json, report_markdown
from trainer.tasks.registry import load_finetuned, stored_run, task_heads

# The command line is built from modules without torch (the registry lists tasks without importing them);
# what measures a model imports torch in _command, so --help and a command-line error answer at once.

logger = logging.getLogger("trainer.evaluate")


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
            raise UsageError(f"--data takes LANG=PATH, got {value!r}")
        lang = lang.strip()
        sources.append(DataSource(lang, path.strip(), encoding=per_lang.get(lang, default), limit=limit))
    return sources


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m trainer.evaluate", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("Examples::")[1])
    parser.add_argument("--model", required=True, help="checkpoint directory or trainer.finetune output directory")
    parser.add_argument("--task", choices=sorted(task_heads()), help="checked against the checkpoint's task")
    parser.add_argument("--head", help="checked against the checkpoint's head")
    parser.add_argument("--data", nargs="+", default=[], metavar="LANG=PATH",
                        help="evaluation files (SQuAD JSON, CoNLL, TSV, SemEval XML) or dataset directories, one per "
                             "language")
    parser.add_argument("--xsr", nargs="+", default=[], metavar="NAME=SOURCE,TARGET",
                        help="cross-lingual retrieval P@1/5/10 on line-parallel files (paper 003 Table 1)")
    parser.add_argument("--mlm", nargs="+", default=[], metavar="LANG=FILE",
                        help="MLM perplexity on one-sentence-per-line files (paper 003 Table 1)")
    parser.add_argument("--probe-size", type=int, default=ProbeConfig.size, help="sentences (pairs) per XSR/MLM probe")
    parser.add_argument("--probe-skip", type=int, default=ProbeConfig.skip, help="lines skipped before each probe")
    parser.add_argument("--mlm-head", help="masked LM whose head scores the MLM probes on this model's encoder "
                                           "(default: the backbone the run was fine-tuned from)")
    parser.add_argument("--seed", type=int, default=0, help="MLM masking seed (keyed by sentence id)")
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
    from trainer.adaptation.retention import measure_model
    from trainer.tasks.report import evaluate_sources, make_report, retention_markdown

    device = command_device(args.device)
    if not (args.data or args.xsr or args.mlm):
        raise UsageError("give --data, --xsr or --mlm: nothing to evaluate")
    # The command line is read in full before a model is loaded: a typo costs no loading time.
    sources = _data_arguments(args.data, args.encoding, args.limit)
    translations = _data_arguments(args.translations, args.encoding, args.limit)
    probes = _probe_arguments(args)
    task, model, tokenizer, checkpoint = load_finetuned(args.model, args.task, args.head, device)
    if args.source_lang:
        task.settings.source_lang = args.source_lang
    report: dict = {"model": str(checkpoint)}
    if args.data:
        per_language = evaluate_sources(task, model, tokenizer, sources, args.batch_size, translations)
        report = make_report(task, per_language, model=str(checkpoint), data={s.lang: s.path for s in sources})
    if args.xsr or args.mlm:
        report["retention"] = measure_model(probes, args.seed, _mlm_head(args, checkpoint), model, tokenizer, device)
    if args.json_out:
        Path(args.json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json_out).write_text(report_json(report) + "\n", encoding="utf-8")
    if args.data:
        print(report_markdown(report), end="")
    if "retention" in report:
        print(retention_markdown(report["retention"]), end="")
    return 0


def _probe_arguments(args: argparse.Namespace) -> ProbeConfig:
    """``--xsr NAME=SOURCE,TARGET`` and ``--mlm LANG=FILE`` as the probes of one model."""
    xsr, mlm = {}, {}
    for value in args.xsr:
        name, sep, files = value.partition("=")
        paths = [p.strip() for p in files.split(",")]
        if not sep or not name.strip() or len(paths) != 2 or not all(paths):
            raise UsageError(f"--xsr takes NAME=SOURCE,TARGET, got {value!r}")
        xsr[name.strip()] = paths
    for value in args.mlm:
        lang, sep, path = value.partition("=")
        if not sep or not lang.strip() or not path.strip():
            raise UsageError(f"--mlm takes LANG=FILE, got {value!r}")
        mlm[lang.strip()] = path.strip()
    return ProbeConfig(mlm=mlm, xsr=xsr, size=args.probe_size, skip=args.probe_skip, batch_size=args.batch_size)


def _mlm_head(args: argparse.Namespace, checkpoint: Path) -> str | None:
    """The masked LM that scores MLM probes: ``--mlm-head``, or the backbone the checkpoint's run started from."""
    if args.mlm_head or not args.mlm:
        return args.mlm_head
    backbone = stored_run(checkpoint).get("config", {}).get("model", {}).get("name_or_path")
    if backbone is None:
        raise UsageError(f"{checkpoint}: its run names no pretrained backbone whose MLM head could score --mlm "
                         "(a from-scratch model): pass --mlm-head")
    return backbone


if __name__ == "__main__":
    sys.exit(main())
