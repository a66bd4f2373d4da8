"""Beam's Flink and Spark job-server jars from Maven Central, pinned (coordinates and sha256), into a cache folder.

    python -m pipelines.engines.jars fetch [--engine flink|spark] [--cache DIR]   # prints the --*_job_server_jar flags
    python -m pipelines.engines.jars path --engine flink                          # the cached jar, or exit 1

The jars are resolved with Maven (``mvn dependency:copy``), checked against the sha256 pinned here and kept in
``$POLYSPAN_CACHE/jars`` (default ``~/.cache/polyspan/jars``); the path is what ``--flink_job_server_jar`` /
``--spark_job_server_jar`` take, so Beam never downloads a jar itself. They are never committed.

Status (see docs/engines.md): Maven Central, as this project's machines reach it, serves no job-server jar of
Beam 2.77.0 nor of any release back to 2.62.0 (HTTP 404 for every ``beam-runners-*-job-server`` version), so
``fetch`` stops with the coordinates tried and Maven's error. The sha256 pins stay empty until a jar is served:
a pin can only be written from a jar one has.
"""
from __future__ import annotations

import argparse
import hashlib
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pipelines.engines import BEAM_VERSION, cache_root
from schemas.errors import UserError


@dataclass(frozen=True)
class JobServerJar:
    engine: str
    artifact: str  # Maven coordinates group:artifact:version
    sha256: str | None  # None: never served, so never pinned; fetch refuses to use an unpinned jar
    flag: str

    @property
    def file_name(self) -> str:
        _, artifact, version = self.artifact.split(":")
        return f"{artifact}-{version}.jar"


# Flink 1.19 is the newest Flink whose Beam runner module Maven Central serves at all (2.62.0, 2.70.0); Beam 2.77's
# SDK lists 1.19 .. 2.2 as published Flink versions. Spark 3 is Beam's only Spark job server.
JARS = {
    "flink": JobServerJar("flink", f"org.apache.beam:beam-runners-flink-1.19-job-server:{BEAM_VERSION}", None,
                          "--flink_job_server_jar"),
    "spark": JobServerJar("spark", f"org.apache.beam:beam-runners-spark-3-job-server:{BEAM_VERSION}", None,
                          "--spark_job_server_jar"),
}


class JarUnavailable(UserError):
    """A job-server jar that cannot be had: not served, not pinned, or not matching its pin."""


def jar_dir(cache: Path | None = None) -> Path:
    return (cache or cache_root()) / "jars"


def cached_jar(engine: str, cache: Path | None = None) -> Path | None:
    """The verified jar of ``engine`` in the cache, or None."""
    spec = JARS[engine]
    path = jar_dir(cache) / spec.file_name
    return path if path.is_file() and spec.sha256 and sha256_of(path) == spec.sha256 else None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(engine: str, cache: Path | None = None) -> Path:
    """The jar of ``engine``, resolved with Maven into the cache and checked against its pin."""
    found = cached_jar(engine, cache)
    if found:
        return found
    spec = JARS[engine]
    if shutil.which("mvn") is None:
        raise JarUnavailable(f"Maven (mvn) is needed to fetch {spec.artifact}: install it (apt-get install maven)")
    target = jar_dir(cache)
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target) as staging:
        done = subprocess.run(["mvn", "-B", "-q", "-Dstyle.color=never", "-U", "dependency:copy", f"-Dartifact={spec.artifact}",
                               f"-DoutputDirectory={staging}"], capture_output=True, text=True)
        got = Path(staging) / spec.file_name
        if done.returncode != 0 or not got.is_file():
            errors = [line for line in done.stdout.splitlines() + done.stderr.splitlines() if "ERROR" in line]
            first = re.sub(r"\x1b\[[0-9;]*m", "", errors[0]).strip() if errors else f"exit status {done.returncode}"
            raise JarUnavailable(f"Maven could not resolve {spec.artifact}: {first}")
        digest = sha256_of(got)
        if spec.sha256 is None:
            raise JarUnavailable(f"{spec.artifact} resolved (sha256 {digest}) but has no pinned sha256 in "
                                 f"{__file__}: check the jar and pin it before use")
        if digest != spec.sha256:
            raise JarUnavailable(f"{spec.artifact}: sha256 {digest} is not the pinned {spec.sha256}")
        final = target / spec.file_name
        got.replace(final)
    return final


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.engines.jars", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=("fetch", "path"))
    parser.add_argument("--engine", choices=sorted(JARS), action="append",
                        help="flink or spark (repeatable; default: both)")
    parser.add_argument("--cache", type=Path, default=None, help="cache folder (default: $POLYSPAN_CACHE or "
                                                                   "~/.cache/polyspan)")
    args = parser.parse_args(argv)
    status = 0
    for engine in args.engine or sorted(JARS):
        try:
            path = fetch(engine, args.cache) if args.action == "fetch" else cached_jar(engine, args.cache)
        except JarUnavailable as err:
            print(f"error: {err}", file=sys.stderr)
            status = 1
            continue
        if path is None:
            print(f"error: no verified {engine} job-server jar in {jar_dir(args.cache)}", file=sys.stderr)
            status = 1
        else:
            print(f"{JARS[engine].flag} {path}")
    return status


if __name__ == "__main__":
    sys.exit(main())
