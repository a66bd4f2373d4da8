"""The engines the pipelines are checked on, beside the local FnApiRunner: Prism (Beam's portable local runner,
built by ``python -m pipelines.engines.prism build``), and Flink and Spark through Beam's job servers (jars by
``python -m pipelines.engines.jars fetch``). Each engine's fixture gives the Beam flags of a run on it; what it
needs and lacks fails the test under CI=true and skips it elsewhere, like the data."""
import os
import shutil

import pytest

from pipelines.engines.jars import JARS, cached_jar
from pipelines.engines.prism import prism_binary


def _missing(message: str):
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def prism_flags():
    binary = prism_binary()
    if binary is None:
        _missing("no Prism built: run `python -m pipelines.engines.prism build` (needs Go and the Go module proxy)")
    return ["--runner=PrismRunner", f"--prism_location={binary}"]


def _job_server_jar(engine: str):
    if shutil.which("java") is None:
        _missing(f"{engine}: no java on PATH (OpenJDK 17 runs Beam's job servers)")
    jar = cached_jar(engine)
    if jar is None:
        # Not a machine's fault: Maven Central serves no job-server jar of the pinned Beam release (see
        # docs/engines.md, "Status"), so CI cannot fetch it either; skipped with the coordinates, not failed.
        pytest.skip(f"{engine}: no job-server jar {JARS[engine].artifact} (not served by Maven Central; "
                    "`python -m pipelines.engines.jars fetch` says why)")
    return jar


@pytest.fixture(scope="session")
def flink_flags():
    jar = _job_server_jar("flink")
    return ["--runner=FlinkRunner", "--flink_master=[local]", f"--flink_job_server_jar={jar}",
            "--environment_type=LOOPBACK", "--parallelism=2"]


@pytest.fixture(scope="session")
def spark_flags():
    jar = _job_server_jar("spark")
    return ["--runner=SparkRunner", "--spark_master_url=local[2]", f"--spark_job_server_jar={jar}",
            "--environment_type=LOOPBACK"]

