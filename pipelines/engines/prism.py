"""Beam's Prism runner, built from the Go module proxy at the pinned Beam release, and the local runner choice.

    python -m pipelines.engines.prism build [--cache DIR]    # go install ...@v2.77.0 into the cache; prints the path

Beam's Python SDK runs Prism (``--runner PrismRunner``, and ``DirectRunner`` tries it first) by downloading a
release binary from GitHub; where that cannot be reached every run logs "Unable to fetch remote prism binary"
and falls back. ``local_runner_options`` points Beam at the binary built here (``--prism_location``), so Prism
runs offline, and never lets Beam try the download: without a built binary, DirectRunner becomes FnApiRunner
(where Beam's own fallback ends) and PrismRunner stops with the command that builds it.

A run that names no runner gets ``LOCAL_DEFAULT``: FnApiRunner, the faster of the two on the wiki_mrc bench
(``python bench/engines.py``; figures in docs/engines.md).
"""
from __future__ import annotations

import argparse
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

from apache_beam.options.pipeline_options import PipelineOptions, PrismRunnerOptions, StandardOptions

from pipelines.engines import BEAM_VERSION, cache_root
from schemas.errors import UserError

PACKAGE = "github.com/apache/beam/sdks/v2/go/cmd/prism"
LOCAL_DEFAULT = "FnApiRunner"
_PRISM_RUNNERS = {"prismrunner", "prism"}
_DIRECT_RUNNERS = {"directrunner", "direct"}

_log = logging.getLogger(__name__)


class PrismUnavailable(UserError):
    pass


def prism_dir(cache: Path | None = None) -> Path:
    return (cache or cache_root()) / "prism" / f"v{BEAM_VERSION}"


def prism_binary(cache: Path | None = None) -> Path | None:
    """The built Prism of the pinned release, or None."""
    path = prism_dir(cache) / "prism"
    return path if os.access(path, os.X_OK) else None


def build(cache: Path | None = None) -> Path:
    """``go install`` Prism at the pinned release into the cache (minutes the first time, then a no-op)."""
    found = prism_binary(cache)
    if found:
        return found
    if shutil.which("go") is None:
        raise PrismUnavailable("Go is needed to build Prism (apt-get install golang, or go.dev/doc/install)")
    target = prism_dir(cache)
    target.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "GOBIN": str(target), "GOFLAGS": "-buildvcs=false"}
    done = subprocess.run(["go", "install", f"{PACKAGE}@v{BEAM_VERSION}"], env=env, capture_output=True, text=True)
    if done.returncode != 0 or prism_binary(cache) is None:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise PrismUnavailable(f"go install {PACKAGE}@v{BEAM_VERSION} failed: {' | '.join(tail)}")
    return target / "prism"


def local_runner_options(options: PipelineOptions, cache: Path | None = None) -> PipelineOptions:
    """Settle the runner of a local run so that Beam downloads nothing: no runner named → ``LOCAL_DEFAULT``;
    DirectRunner or PrismRunner → the built Prism (``--prism_location``) unless one is given. Changes and
    returns ``options``."""
    standard = options.view_as(StandardOptions)
    runner = standard.runner
    if runner is None:
        standard.runner = runner = LOCAL_DEFAULT
    if not isinstance(runner, str):
        return options
    name = runner.lower()
    if name not in _PRISM_RUNNERS | _DIRECT_RUNNERS:
        return options
    prism = options.view_as(PrismRunnerOptions)
    if prism.prism_location:
        return options
    binary = prism_binary(cache)
    if binary is not None:
        prism.prism_location = str(binary)
    elif name in _PRISM_RUNNERS:
        raise PrismUnavailable(f"no Prism built for Beam {BEAM_VERSION} in {prism_dir(cache)}: run "
                               "`python -m pipelines.engines.prism build` (or pass --prism_location)")
    else:
        _log.info("no Prism built in %s: running on FnApiRunner, where DirectRunner would end after failing "
                  "to download one", prism_dir(cache))
        standard.runner = "FnApiRunner"
    return options


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.engines.prism", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=("build", "path"))
    parser.add_argument("--cache", type=Path, default=None,
                        help="cache folder (default: $POLYSPAN_CACHE or ~/.cache/polyspan)")
    args = parser.parse_args(argv)
    try:
        path = build(args.cache) if args.action == "build" else prism_binary(args.cache)
    except PrismUnavailable as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if path is None:
        print(f"error: no Prism built in {prism_dir(args.cache)}", file=sys.stderr)
        return 1
    print(f"--prism_location {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
