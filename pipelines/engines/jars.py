"""Beam's Flink and Spark job servers from Maven Central, pinned, into a cache folder.

    python -m pipelines.engines.jars fetch [--engine flink|spark] [--cache DIR]   # prints the --*_job_server_jar flags
    python -m pipelines.engines.jars path --engine flink                          # the cached job server, or exit 1

A job server is what ``--flink_job_server_jar`` / ``--spark_job_server_jar`` take, so Beam downloads nothing
itself. Beam publishes one jar per engine (``beam-runners-flink-1.19-job-server``, ...), but Maven Central, as
this project's machines reach it, serves none of any release (docs/engines.md, "Status"). The job-server jar
is the runner module with its dependencies and a main class, so ``fetch`` makes the same from what is served:
Maven resolves the runner module (``beam-runners-flink-1.19``, ``beam-runners-spark-3``) of the project's Beam
release with its dependencies into ``$POLYSPAN_CACHE/jars/<engine>-<release>/lib`` (Maven checks each file's
checksum), the runner module's sha256 is checked against the pin below, and a launcher jar is written whose
manifest names the job-server driver and the resolved jars (and, for Spark, the jars of the installed pyspark:
Spark is a ``provided`` dependency of Beam's runner). Nothing is committed.

A runner module is served for Beam 2.62.0 and 2.70.0 only, and 2.70.0 lacks ``beam-runners-java-job-service``:
2.62.0 is the newest release whose job servers can be made. The SDK and the job server must be of one release,
so with the project's pin (``BEAM_VERSION``) at 2.77.0 ``fetch`` stops, naming the coordinates and Maven's error.
"""
from __future__ import annotations

import argparse
import hashlib
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from pipelines.engines import BEAM_VERSION, cache_root
from schemas.errors import UserError

# What Spark 3 needs opened on Java 17 (Spark's own launch scripts pass the same as --add-opens).
_SPARK_OPENS = ("java.base/java.lang java.base/java.lang.invoke java.base/java.lang.reflect java.base/java.io "
                "java.base/java.net java.base/java.nio java.base/java.util java.base/java.util.concurrent "
                "java.base/java.util.concurrent.atomic java.base/sun.nio.ch java.base/sun.nio.cs "
                "java.base/sun.security.action java.base/sun.util.calendar")


@dataclass(frozen=True)
class JobServer:
    engine: str
    module: str  # the runner module's artifact id
    main_class: str
    flag: str
    # The sha256 of the runner module's jar, per Beam release; a release without one is refused.
    sha256: dict
    add_opens: str = ""

    def coordinates(self, version: str = BEAM_VERSION) -> str:
        return f"org.apache.beam:{self.module}:{version}"

    @property
    def published_job_server(self) -> str:
        """The job-server jar Beam publishes (not served here), named in errors."""
        return f"org.apache.beam:{self.module}-job-server:{BEAM_VERSION}"


JOB_SERVERS = {
    # Flink 1.19: the newest Flink whose Beam runner module is served (Beam's SDK lists 1.19 .. 2.2).
    "flink": JobServer("flink", "beam-runners-flink-1.19", "org.apache.beam.runners.flink.FlinkJobServerDriver",
                       "--flink_job_server_jar",
                       {"2.62.0": "1068e860e50ca258e300ac88116b6013f753383eae0e48fd5d787dbb9dcd6205"}),
    "spark": JobServer("spark", "beam-runners-spark-3", "org.apache.beam.runners.spark.SparkJobServerDriver",
                       "--spark_job_server_jar",
                       {"2.62.0": "1bee3f5e15c4e2918418a61ff5ec9753bab2c45c6d0e8c5dc45f111d4ef6b150"},
                       add_opens=_SPARK_OPENS),
}
JARS = JOB_SERVERS  # the name the tests and the bench use
LAUNCHER = "job-server.jar"
_LOGGING = "org.slf4j:slf4j-simple:1.7.36"  # the published job servers log through slf4j-simple too


class JarUnavailable(UserError):
    """A job server that cannot be made: not served, not pinned, or not matching its pin."""


def server_dir(engine: str, cache: Path | None = None, version: str = BEAM_VERSION) -> Path:
    return (cache or cache_root()) / "jars" / f"{engine}-{version}"


def cached_jar(engine: str, cache: Path | None = None) -> Path | None:
    """The job server of ``engine`` made for the pinned release, or None."""
    path = server_dir(engine, cache) / LAUNCHER
    return path if path.is_file() else None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _pom(spec: JobServer, version: str) -> str:
    group, artifact, logging_version = _LOGGING.split(":")
    return f"""<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
<groupId>polyspan</groupId><artifactId>{spec.engine}-job-server</artifactId><version>{version}</version>
<dependencies>
<dependency><groupId>org.apache.beam</groupId><artifactId>{spec.module}</artifactId>
  <version>{version}</version></dependency>
<dependency><groupId>{group}</groupId><artifactId>{artifact}</artifactId>
  <version>{logging_version}</version></dependency>
</dependencies></project>
"""


def _manifest_line(name: str, value: str) -> str:
    """One manifest attribute, wrapped at 72 bytes with continuation lines starting with a space."""
    line = f"{name}: {value}".encode("utf-8")
    parts = [line[:72]] + [b" " + line[i:i + 71] for i in range(72, len(line), 71)]
    return "\r\n".join(part.decode("utf-8") for part in parts) + "\r\n"


def _spark_jars() -> Path:
    try:
        import pyspark
    except ImportError:
        raise JarUnavailable("the Spark job server needs Spark's jars: pip install pyspark (3.x, Scala 2.12)")
    return Path(pyspark.__file__).parent / "jars"


def write_launcher(path: Path, main_class: str, class_path: list[str], add_opens: str = "") -> None:
    """A jar with only a manifest: ``java -jar`` runs ``main_class`` with ``class_path`` (relative to the jar)."""
    manifest = "Manifest-Version: 1.0\r\n" + _manifest_line("Main-Class", main_class)
    if add_opens:
        manifest += _manifest_line("Add-Opens", add_opens)
    manifest += _manifest_line("Class-Path", " ".join(class_path)) + "\r\n"
    with zipfile.ZipFile(path, "w") as jar:
        jar.writestr("META-INF/MANIFEST.MF", manifest)


def fetch(engine: str, cache: Path | None = None) -> Path:
    """The job server of ``engine`` for the pinned Beam release, made in the cache if it is not there."""
    found = cached_jar(engine, cache)
    if found:
        return found
    spec = JOB_SERVERS[engine]
    pin = spec.sha256.get(BEAM_VERSION)
    if pin is None:
        raise JarUnavailable(
            f"no job server for Beam {BEAM_VERSION}: Maven Central serves neither {spec.published_job_server} nor "
            f"{spec.coordinates()} to make one from; the newest release it can be made for is "
            f"{', '.join(sorted(spec.sha256))} (docs/engines.md)")
    if shutil.which("mvn") is None:
        raise JarUnavailable(f"Maven (mvn) is needed to resolve {spec.coordinates()}: apt-get install maven")
    target = server_dir(engine, cache)
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target) as staging:
        staging = Path(staging)
        (staging / "pom.xml").write_text(_pom(spec, BEAM_VERSION), encoding="utf-8")
        done = subprocess.run(["mvn", "-B", "-q", "-Dstyle.color=never", "dependency:copy-dependencies",
                               "-DoutputDirectory=lib", "-DincludeScope=runtime"], cwd=staging,
                              capture_output=True, text=True)
        if done.returncode != 0:
            errors = [line for line in done.stdout.splitlines() + done.stderr.splitlines() if "ERROR" in line]
            first = re.sub(r"\x1b\[[0-9;]*m", "", errors[0]).strip() if errors else f"exit status {done.returncode}"
            raise JarUnavailable(f"Maven could not resolve {spec.coordinates()}: {first}")
        module = staging / "lib" / f"{spec.module}-{BEAM_VERSION}.jar"
        digest = sha256_of(module) if module.is_file() else "missing"
        if digest != pin:
            raise JarUnavailable(f"{spec.coordinates()}: sha256 {digest} is not the pinned {pin}")
        if (target / "lib").exists():
            shutil.rmtree(target / "lib")
        (staging / "lib").replace(target / "lib")
    class_path = [f"lib/{jar.name}" for jar in sorted((target / "lib").glob("*.jar"))]
    if engine == "spark":
        link = target / "spark-jars"
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(_spark_jars(), target_is_directory=True)
        class_path += [f"spark-jars/{jar.name}" for jar in sorted(link.glob("*.jar"))]
    write_launcher(target / LAUNCHER, spec.main_class, class_path, spec.add_opens)
    return target / LAUNCHER


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.engines.jars", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=("fetch", "path"))
    parser.add_argument("--engine", choices=sorted(JOB_SERVERS), action="append",
                        help="flink or spark (repeatable; default: both)")
    parser.add_argument("--cache", type=Path, default=None, help="cache folder (default: $POLYSPAN_CACHE or "
                                                                   "~/.cache/polyspan)")
    args = parser.parse_args(argv)
    status = 0
    for engine in args.engine or sorted(JOB_SERVERS):
        try:
            path = fetch(engine, args.cache) if args.action == "fetch" else cached_jar(engine, args.cache)
        except JarUnavailable as err:
            print(f"error: {err}", file=sys.stderr)
            status = 1
            continue
        if path is None:
            print(f"error: no {engine} job server in {server_dir(engine, args.cache)}", file=sys.stderr)
            status = 1
        else:
            print(f"{JOB_SERVERS[engine].flag} {path}")
    return status


if __name__ == "__main__":
    sys.exit(main())
