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
import threading
import traceback
from typing import TYPE_CHECKING, Callable, Iterator

from schemas import Manifest
from schemas.errors import UserError

if TYPE_CHECKING:  # Beam is imported once the command line is parsed, so --help and its errors answer at once
    from apache_beam.options.pipeline_options import PipelineOptions

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
    if not any("--verbose" in action.option_strings for action in parser._actions):
        parser.add_argument("--verbose", action="store_true",
                            help="also log Beam's and the runner's own INFO lines (workers, Prism, tracebacks)")
    args, beam_args = parser.parse_known_args(argv)
    from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

    from pipelines.engines.prism import local_runner_options
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


# Loggers of the project's own progress and summary lines: INFO and up reach the user.
_OWN_LOGGERS = ("pipelines", "schemas", "alignment", "__main__")
# Loggers of Beam and of what it runs: Prism's records are renamed "PrismRunner" and "SdkWorker@..." by Beam's
# PrismRunnerLogFilter, and a portable job's messages are logged on the root logger.
_BEAM_LOGGERS = ("apache_beam", "PrismRunner", "SdkWorker", "root")
# Beam's WARNING-level chatter: a subprocess runner started and stopped, and a worker's log line forwarded by the
# local job service from Beam's own code ("No semi_persistent_directory found" once per worker).
_BEAM_LIFECYCLE = re.compile(r"^Really (starting|destroying) service at ")
_BEAM_WORKER_LINE = re.compile(r'^Worker: .* log_location: "[^"]*/apache_beam/')
# A traceback's text inside a message: Prism and the portable runner log a worker's traceback as text, with no
# exc_info, once per failed bundle.
_TRACEBACK_TEXT = "Traceback (most recent call last)"


def _own(name: str) -> bool:
    return any(name == own or name.startswith(own + ".") for own in _OWN_LOGGERS)


class _NoRunnerTracebacks(logging.Filter):
    """Drops the records with a traceback that Beam's runners log when a DoFn raises - as exc_info
    (FnApiRunner) or as text (Prism, a worker, the portable runner's job messages), and Prism's ERROR lines about
    the failed bundle: the same error then fails the run and reaches the user as ``main_wrapper``'s one line (a
    bug's traceback is re-raised with it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _own(record.name) or record.levelno < logging.WARNING:
            return True
        if record.levelno >= logging.ERROR and record.exc_info is not None and record.name.startswith("apache_beam"):
            return False
        beam = any(record.name == n or record.name.startswith(n + ".") or record.name.startswith(n + "@")
                   for n in _BEAM_LOGGERS)
        # Prism also warns with the traceback when it abandons a split of the failing bundle.
        return not (beam and (_TRACEBACK_TEXT in record.getMessage()
                              or (record.levelno >= logging.ERROR and record.name.startswith("PrismRunner"))))


class _QuietBeam(logging.Filter):
    """A default run's log: the project's own INFO lines, and WARNING and up from everyone else except Beam's
    lifecycle and worker chatter (``--verbose`` shows all of it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _own(record.name):
            return True
        if record.levelno < logging.WARNING:
            return False
        message = record.getMessage()
        # Prism's own warnings are about its bundles (a split abandoned, a late state request of a failed one).
        return not (record.levelno < logging.ERROR
                    and (_BEAM_LIFECYCLE.match(message) or _BEAM_WORKER_LINE.match(message)
                         or record.name.startswith("PrismRunner")))


class _QuietWorkerPrints:
    """sys.stderr, less what Beam's SDK worker prints there itself: ``SdkWorker._execute`` prints a failed
    bundle's traceback with ``print`` before logging it (Beam 2.77, sdk_worker.py), and with Prism's LOOPBACK
    workers that worker runs in this process. Everything else is written through."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text: str) -> int:
        caller = sys._getframe(1)  # print() is C code: the frame above write() is the one that called print
        if caller.f_code.co_name == "_execute" and caller.f_code.co_filename.endswith(
                "apache_beam/runners/worker/sdk_worker.py"):
            return len(text)
        return self._stream.write(text)

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


def _quiet_beam_thread_errors(previous):
    """A ``threading.excepthook`` that drops what a Beam worker's gRPC threads raise once a failed job's channels
    close (Prism's in-process worker: "worker_id ... not registered in worker pool"); any other thread's
    exception goes to ``previous``."""

    def hook(args: threading.ExceptHookArgs) -> None:
        frames = traceback.extract_tb(args.exc_traceback) if args.exc_traceback else []
        if frames and all(("/apache_beam/" in f.filename or "/grpc/" in f.filename or "/threading.py" in f.filename)
                          for f in frames):
            return
        previous(args)

    hook.quiet_beam = True
    return hook


def _wants_verbose(argv: list[str] | None) -> bool:
    return "--verbose" in (sys.argv[1:] if argv is None else argv)


def configure_logging(verbose: bool) -> None:
    """INFO logging with the project's own lines; Beam's chatter (INFO, lifecycle and worker lines, runner
    tracebacks) only when ``verbose``."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Beam's INFO records are not even built by default (its type-hint and WriteImpl notes included), and a
    # verbose run gets them back even after a default run in the same process.
    logging.getLogger("apache_beam").setLevel(logging.INFO if verbose else logging.WARNING)
    _remove_quiet_filters()
    if not verbose:
        for handler in logging.getLogger().handlers:
            handler.addFilter(_NoRunnerTracebacks())
            handler.addFilter(_QuietBeam())


def _remove_quiet_filters() -> None:
    for handler in logging.getLogger().handlers:
        for kind in (_NoRunnerTracebacks, _QuietBeam):
            for old in [f for f in handler.filters if isinstance(f, kind)]:
                handler.removeFilter(old)


def main_wrapper(run: Callable[[list[str] | None], object], argv: list[str] | None = None) -> int:
    """Run a pipeline's ``run(argv)`` and print what it wrote (when it returns the dataset's manifest); an error
    reaches the user as one line naming file and position, not as a runner's traceback."""
    verbose = _wants_verbose(argv)
    configure_logging(verbose)
    stderr = sys.stderr
    if not verbose:
        if not isinstance(stderr, _QuietWorkerPrints):
            sys.stderr = _QuietWorkerPrints(stderr)
        # Kept after the run: those threads die after run() has returned, while the process exits.
        if not getattr(threading.excepthook, "quiet_beam", False):
            threading.excepthook = _quiet_beam_thread_errors(threading.excepthook)
    try:
        return _run_and_report(run, argv)
    finally:
        # A command (argv from sys.argv) keeps the quiet stderr until it exits: a failed job's in-process worker
        # goes on printing after run() returned. A caller passing argv (a test) gets its own stream back.
        if argv is not None:
            sys.stderr = stderr
            # The quiet filters sit on the root logger's handlers, which outlive the run: a caller that goes on
            # (a notebook that trains next, a test) would lose every INFO line that is not a pipeline's.
            _remove_quiet_filters()


def _run_and_report(run: Callable[[list[str] | None], object], argv: list[str] | None) -> int:
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
