"""What every pipeline's command line shares: polyspan's own flags next to Beam's, and a run that ends with
a one-line message instead of a runner traceback when the user is at fault - a ``UserError`` (raised in the
launcher or in a worker, where the runner wraps it), a missing input file, or a full or read-only output
disk - while every other exception is a bug and keeps its traceback."""
from __future__ import annotations

import argparse
import errno
import logging
import re
import sys
from typing import Callable, Iterator

from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from pipelines.engines.prism import local_runner_options
from schemas import Manifest
from schemas.errors import UserError

# A "module.SomethingError: message" line in the text of a runner-wrapped exception. Beam re-raises a DoFn's
# exception as the same class with " [while running 'step']" added when it can build one, else as a
# RuntimeError whose message is that line; a remote worker's failure arrives as its traceback's text.
_ERROR_LINE = re.compile(r"^\s*(?:[\w.]+\.)?(\w*Error): (.+)$", re.MULTILINE)


# Runners whose workers never share the launching machine's disk: a local --output would be written on each
# worker's own disk and lost when the job ends. (Flink and Spark clusters may mount a shared filesystem, so a
# local path can be right there.)
_REMOTE_WORKER_RUNNERS = {"dataflowrunner", "dataflow"}

# Runners whose metrics cannot be trusted for a manifest. Beam 2.77's BundleBasedDirectRunner keeps, for each
# step downstream of a Flatten, only some of its bundles' counter updates (a Create of 50 and a Create of 2,
# flattened, then a counting ParDo: 50 or 2 counted, never 52), so the manifest's drop counts would be wrong
# without a word. Its bundle-at-a-time execution offers nothing these batch pipelines need.
_UNTRUSTED_METRICS_RUNNERS = {"bundlebaseddirectrunner"}


def parse_args(parser: argparse.ArgumentParser, argv: list[str] | None) -> tuple[argparse.Namespace, PipelineOptions]:
    """Split the command line into polyspan's flags and Beam's (``--runner``, ``--project``, ...)."""
    args, beam_args = parser.parse_known_args(argv)
    # A local run never downloads a runner: the local default, or the Prism built by pipelines.engines.prism.
    options = local_runner_options(PipelineOptions(beam_args))
    output = getattr(args, "output", None)
    runner = options.view_as(StandardOptions).runner
    if (isinstance(output, str) and isinstance(runner, str) and runner.lower() in _REMOTE_WORKER_RUNNERS
            and "://" not in output):
        parser.error(f"--output {output!r} is a local path, but {runner} workers cannot write to this "
                     f"machine's disk: give an object-store path (gs://bucket/dir)")
    if isinstance(runner, str) and runner.lower() in _UNTRUSTED_METRICS_RUNNERS:
        parser.error(f"--runner {runner} loses counters after a Flatten (Beam 2.77), so the manifest's counts "
                     f"would be wrong: use DirectRunner (or FnApiRunner) for a local run")
    return args, options


# Errors of the output's filesystem, whose message a runner reports without the file: the machine's fault, not
# a bug, so they end the run with one line too.
_OUTPUT_FAULTS = ("No space left on device", "Disk quota exceeded", "Read-only file system")
_OUTPUT_FAULT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS}


def _wrapped(err: RuntimeError) -> Iterator[BaseException]:
    """The exceptions a runner's RuntimeError was raised from or while handling (Beam raises its wrapper in
    the ``except`` block of the original, so that is its context)."""
    seen = set()
    cause: BaseException | None = err
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        yield cause
        cause = cause.__cause__ or cause.__context__


def _subclass_names(cls: type) -> set[str]:
    names = set()
    for sub in cls.__subclasses__():
        names |= {sub.__name__} | _subclass_names(sub)
    return names


def _is_user_error(err: BaseException) -> bool:
    return isinstance(err, (UserError, FileNotFoundError)) or \
        (isinstance(err, OSError) and err.errno in _OUTPUT_FAULT_ERRNOS)


def user_error(err: BaseException) -> tuple[str, str] | None:
    """(class name, message) of the user error ``err`` is - a ``UserError``, a missing file, a full or
    read-only output disk - or, when ``err`` is a runner's RuntimeError, the one it wraps (found by class along
    its causes, or by class name in its text: a subclass is known by name once its module is imported, as a
    pipeline's own modules are in the launcher); None for anything else: a bug."""
    if _is_user_error(err):
        return type(err).__name__, str(err)
    if not isinstance(err, RuntimeError):
        return None
    for cause in _wrapped(err):
        if _is_user_error(cause):
            return type(cause).__name__, str(cause)
    names = _subclass_names(UserError) | {"FileNotFoundError"}
    for kind, message in reversed(_ERROR_LINE.findall(str(err))):
        if kind in names or any(fault in message for fault in _OUTPUT_FAULTS):
            return kind, message
    return None


def _output_of(argv: list[str] | None) -> str | None:
    """The ``--output`` of a command line (``--output DIR`` or ``--output=DIR``), if any."""
    args = sys.argv[1:] if argv is None else argv
    for i, arg in enumerate(args):
        if arg == "--output" and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith("--output="):
            return arg.split("=", 1)[1]
    return None


class _NoRunnerTracebacks(logging.Filter):
    """Drops the ERROR records with a traceback that Beam's local runners log when a DoFn raises: the same
    error then fails the run and reaches the user as ``main_wrapper``'s one line (its traceback stays in the
    debug log)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.name.startswith("apache_beam") and record.levelno >= logging.ERROR
                    and record.exc_info is not None)


def main_wrapper(run: Callable[[list[str] | None], object], argv: list[str] | None = None) -> int:
    """Run a pipeline's ``run(argv)`` and print what it wrote (when it returns the dataset's manifest); an error
    reaches the user as one line naming file and position, not as a runner's traceback."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, _NoRunnerTracebacks) for f in handler.filters):
            handler.addFilter(_NoRunnerTracebacks())
    try:
        result = run(argv)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    # The error classes a user error can arrive as: the UserError itself (raised in the launcher, or re-raised
    # by an in-process runner), a missing input file or an output-disk fault, or the RuntimeError a runner
    # wraps them in. Whatever user_error does not recognise among them is re-raised with its traceback.
    except (UserError, OSError, RuntimeError) as err:
        found = user_error(err)
        if found is None:
            raise
        kind, message = found
        message = " ".join(line.strip() for line in message.splitlines() if line.strip())  # one line
        output = _output_of(argv)
        if output and any(fault in message for fault in _OUTPUT_FAULTS) and output not in message:
            message += f" (writing --output {output})"  # the runner's message lost the file it was writing
        print(f"error: {message} ({kind})", file=sys.stderr)
        logging.getLogger(__name__).debug("full error", exc_info=True)
        return 1
    manifest = result if isinstance(result, Manifest) else None
    if manifest is not None:
        dropped = ", ".join(f"{reason} {n}" for reason, n in manifest.dropped.items()) or "none"
        print(f"wrote {manifest.row_count} {manifest.kind} rows in {len(manifest.shards)} shard(s); "
              f"dropped: {dropped}")
    return 0
