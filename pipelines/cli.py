"""What every pipeline's command line shares: polyspan's own flags next to Beam's, and a run that ends with
a one-line message instead of a runner traceback when the input is at fault."""
from __future__ import annotations

import argparse
import logging
import re
import sys
from typing import Callable

from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from pipelines.engines.prism import local_runner_options
from schemas import Manifest

# The last "SomethingError: message" line of a (possibly runner-wrapped) exception: what the user must read.
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


# Errors of the output's filesystem, whose message a runner reports without the file.
_OUTPUT_FAULTS = ("No space left on device", "Disk quota exceeded", "Read-only file system")


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
    except Exception as err:  # runners wrap DoFn errors; dig out the line that explains them
        lines = _ERROR_LINE.findall(str(err)) or [(type(err).__name__, str(err))]
        kind, message = lines[-1]
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
