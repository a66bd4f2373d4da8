"""Predict with a fine-tuned model: ``python -m trainer.predict --model DIR --input FILE [--output OUT.jsonl]``.

``DIR`` is a checkpoint of ``trainer.finetune`` (or its output directory: the latest checkpoint; or its
``best`` directory after model selection): it records its task, labels and decoding, so nothing else is
needed (a checkpoint that records no task, e.g. mPMR's pretrained extractor, takes ``--task`` and
``--head``). The input is raw text:

- ``.jsonl``: one example per line - QA ``{"question", "context"}``, NER ``{"text"}`` (split into words
  with punctuation apart, ``trainer.data.words``) or ``{"tokens": [...]}``, pairs ``{"sentence1",
  "sentence2"}``; an ``id`` and a ``lang`` are optional (default: ``<lang>-<line number>`` and ``--lang``);
- ``.txt``: NER, one sentence per line, split as ``{"text"}`` is;
- anything the task's evaluation reads (SQuAD JSON, CoNLL, PAWS-X/XNLI TSV, shard directories): its labels are
  ignored.

Every example gives one JSON line: QA ``{"id", "lang", "answer", "start", "end", "score"}`` (character
offsets into the context), NER ``{"id", "lang", "text", "tokens", "offsets", "tags", "entities"}`` (each
word's ``[start, end)`` character offsets into ``text``; an entity is ``{"text", "type", "start", "end"}``
with ``text == row_text[start:end]``; given ``tokens`` are joined with single spaces into ``text``), pairs
``{"id", "lang", "label"}``. A malformed input line ends the run with one message naming the file and line.

Examples::

    python -m trainer.predict --model out/finetune-qa --input questions.jsonl --output answers.jsonl
    python -m trainer.predict --model out/finetune-ner --input sentences.txt --lang de
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from typing import TYPE_CHECKING

from schemas.errors import InputDataError, UsageError
from trainer.cli import command_device, run_command
from trainer.data.readers import DataSource

# The tasks import torch: they are imported where a model is used, so that --help and a command-line error
# answer without loading it.
if TYPE_CHECKING:
    import torch

    from trainer.tasks.base import Task

logger = logging.getLogger("trainer.predict")


def read_raw(task: Task, path: Path, lang: str) -> list:
    """The examples of a raw input file (see the module docstring)."""
    if path.suffix == ".jsonl":
        examples = []
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except ValueError as err:
                    raise InputDataError(f"{path}:{number}: not JSON ({err})") from None
                if not isinstance(record, dict):
                    raise InputDataError(f"{path}:{number}: not a JSON object")
                try:
                    example = task.example_from_record(record, record.get("lang") or lang,
                                                       str(record.get("id") or f"{lang}-{number}"))
                except KeyError as err:  # the record lacks a field the task needs; the message names it
                    raise InputDataError(f"{path}:{number}: {err.args[0]}") from None
                examples.append(example)
        return examples
    if path.suffix == ".txt":
        with path.open(encoding="utf-8") as handle:
            return [task.example_from_record({"text": line.rstrip("\r\n")}, lang, f"{lang}-{number}")
                    for number, line in enumerate(handle, start=1) if line.strip()]
    return task.read(DataSource(lang, str(path)))


def predict_file(model_dir: str, input_path: str, lang: str, batch_size: int = 32,
                 device: torch.device | str = "cpu", task_name: str | None = None,
                 head: str | None = None) -> list[dict]:
    import torch

    from trainer.tasks.registry import load_finetuned

    task, model, tokenizer, checkpoint = load_finetuned(model_dir, task_name, head, device=device)
    if task.settings.filter:
        raise UsageError(f"{checkpoint} is a FILTER model, which reads every example with its translation: "
                         "use python -m trainer.evaluate --translations")
    examples = read_raw(task, Path(input_path), lang)
    if not examples:
        raise InputDataError(f"{input_path}: no examples")
    logger.info("%s/%s model %s: %d examples", task.name, task.head, checkpoint, len(examples))
    with torch.no_grad():  # load_finetuned hands the model over in eval mode, which Task.predict relies on
        return task.predict(model, tokenizer, examples, batch_size)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m trainer.predict", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("Examples::")[1])
    parser.add_argument("--model", required=True, help="checkpoint directory or trainer.finetune output directory")
    parser.add_argument("--input", required=True, help=".jsonl, .txt, or a file/directory the task reads")
    parser.add_argument("--output", help="JSON lines file (default: standard output)")
    parser.add_argument("--task", help="the task, for a checkpoint that records none (e.g. a pretraining one)")
    parser.add_argument("--head", help="the head, with --task (default: the task's default head)")
    parser.add_argument("--lang", default="en", help="language of examples that name none (default: en)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda:0, ...")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_command(lambda: _command(args), logger)


def _command(args: argparse.Namespace) -> int:
    from trainer.tasks.report import json_lines

    predictions = predict_file(args.model, args.input, args.lang, args.batch_size, command_device(args.device),
                               args.task, args.head)
    lines = json_lines(predictions)
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(lines, encoding="utf-8")
        print(f"{len(predictions)} predictions: {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
