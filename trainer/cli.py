"""What the trainer's commands (``pretrain``, ``finetune``, ``evaluate``, ``predict``) share around their body:
INFO logging without transformers' progress bars; a user error (a ``UserError``: a bad config, argument, dataset
or file, or a missing input path) prints one line and exits 1, Ctrl-C exits 130, and every other exception is a
bug that keeps its traceback; the ``--config``/``--print-config``/overrides command line of the training
commands and their end-of-run line; the ``--device`` value of the commands that take one."""
from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import TYPE_CHECKING, Any, Callable

from schemas.errors import UserError
from trainer.config import dump_config, load_config

# torch and transformers are imported where they are used, so that --help and a command-line error answer
# without loading them (seconds, hundreds of MB).
if TYPE_CHECKING:
    import torch

    from trainer.loop.train import TrainResult


def one_line(err: BaseException) -> str:
    """The error's message on one line: dataset errors list their problems on lines of their own."""
    return " ".join(line.strip() for line in str(err).splitlines() if line.strip()) or type(err).__name__


def run_command(body: Callable[[], int], logger: logging.Logger) -> int:
    """Set up logging as every trainer command does, then ``body()``'s exit code; 1 after a user error, 130
    after Ctrl-C."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from transformers.utils import logging as transformers_logging
    transformers_logging.disable_progress_bar()  # per-file save/load bars would drown the training log
    try:
        return body()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    # A path the user gave that is not there is their error too; other OSErrors (a full disk, a permission)
    # are not the input's fault and keep their traceback.
    except (UserError, FileNotFoundError) as err:
        print(f"error: {one_line(err)}", file=sys.stderr)
        logger.debug("full error", exc_info=True)
        return 1


def config_parser(prog: str, doc: str, config_help: str, epilog: str) -> argparse.ArgumentParser:
    """The command line of a command run from a config: ``--config FILE``, ``--print-config`` and
    ``key=value`` overrides (``epilog``: examples of them); the caller may add flags of its own."""
    parser = argparse.ArgumentParser(prog=prog, description=doc.split("\n\n")[0], epilog=epilog)
    parser.add_argument("--config", required=True, help=config_help)
    parser.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides")
    return parser


def command_config(args: argparse.Namespace, cls: type) -> Any | None:
    """The config ``--config`` and the overrides give; None after printing it when ``--print-config`` asks."""
    config = load_config(args.config, args.overrides, cls=cls)
    if args.print_config:
        print(dump_config(config), end="")
        return None
    return config


def is_main_process() -> bool:
    """Rank 0 of a ``torchrun`` launch (or a single process): the one that prints a run's summary."""
    return int(os.environ.get("RANK", 0)) == 0


def training_summary(result: TrainResult, total_steps: int) -> str:
    """The line that ends a training run: the step reached, the last logged loss and the checkpoint, or why
    nothing was trained."""
    train_records = [r for r in result.records if r["split"] == "train"]
    if train_records:
        return f"trained to step {result.step}; loss {train_records[-1]['loss']:.4f}; checkpoint {result.checkpoint}"
    return (f"nothing to train: {result.resumed_from} is step {result.step} of {total_steps} (raise "
            "train.total_steps to train on)")


def command_device(value: str) -> torch.device:
    """A ``--device`` value: ``auto`` is CUDA when available, else the CPU; anything else as torch names it."""
    import torch

    if value == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(value)
