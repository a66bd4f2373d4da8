"""What the trainer's commands (``pretrain``, ``finetune``, ``evaluate``, ``predict``) share around their body:
INFO logging without transformers' progress bars; a user error (a bad config, dataset or path) prints one line
and exits 1, Ctrl-C exits 130, and the full traceback stays available in the debug log; the ``--device`` value
of the commands that take one."""
from __future__ import annotations

import logging
import sys
from typing import Callable

import torch
from transformers.utils import logging as transformers_logging

from schemas import DatasetError
from trainer.config import ConfigError

# The errors a user can cause with a config, a dataset or a path; anything else is a bug and keeps its traceback.
USER_ERRORS = (ConfigError, DatasetError, FileNotFoundError, OSError, ValueError, KeyError)


def one_line(err: BaseException) -> str:
    """The error's message on one line: dataset errors list their problems on lines of their own."""
    return " ".join(line.strip() for line in str(err).splitlines() if line.strip()) or type(err).__name__


def run_command(body: Callable[[], int], logger: logging.Logger) -> int:
    """Set up logging as every trainer command does, then ``body()``'s exit code; 1 after a user error, 130
    after Ctrl-C."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    transformers_logging.disable_progress_bar()  # per-file save/load bars would drown the training log
    try:
        return body()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except USER_ERRORS as err:
        print(f"error: {one_line(err)}", file=sys.stderr)
        logger.debug("full error", exc_info=True)
        return 1


def command_device(value: str) -> torch.device:
    """A ``--device`` value: ``auto`` is CUDA when available, else the CPU; anything else as torch names it."""
    if value == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(value)
