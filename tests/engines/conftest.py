"""The engines the pipelines are checked on, beside the local FnApiRunner: Prism (Beam's portable local runner,
built by ``python -m pipelines.engines.prism build``), Flink and Spark through Beam's job servers (made by
``python -m pipelines.engines.jars fetch``). Each engine's fixture gives the Beam flags of a run on it; what it
needs and lacks fails the test under CI=true and skips it elsewhere, like the data.

Spark runs as a standalone cluster started here: a master and two one-core workers from PyPI's pyspark, behind
the job server. Flink runs in the job server's embedded cluster with parallelism 2: Maven Central does not
serve a Flink distribution (``org.apache.flink:flink-dist`` is refused); PyPI's apache-flink-libraries 1.19.1
carries its jars but not its start scripts, and a cluster of its own would also need the Beam classes shipped
to it in one jar, where the job server made here names its jars in its manifest.
"""
import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from pipelines.engines import BEAM_VERSION
from pipelines.engines.jars import JOB_SERVERS, cached_jar, server_dir
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


def _job_server(engine: str) -> Path:
    spec = JOB_SERVERS[engine]
    if BEAM_VERSION not in spec.sha256:
        # Not a machine's fault: no job server can be made for this Beam release from what Maven Central
        # serves (docs/engines.md), so CI cannot either; skipped with the coordinates, not failed.
        pytest.skip(f"{engine}: no job server for Beam {BEAM_VERSION} ({spec.published_job_server} is not "
                    f"served; one can be made for {', '.join(sorted(spec.sha256))} only)")
    if shutil.which("java") is None:
        _missing(f"{engine}: no java on PATH (OpenJDK 17 runs Beam's job servers)")
    jar = cached_jar(engine)
    if jar is None:
        _missing(f"{engine}: no job server in {server_dir(engine)}: run `python -m pipelines.engines.jars fetch`")
    return jar


@pytest.fixture(scope="session")
def flink_flags():
    jar = _job_server("flink")
    return ["--runner=FlinkRunner", "--flink_master=[local]", f"--flink_job_server_jar={jar}",
            "--flink_version=1.19", "--environment_type=LOOPBACK", "--parallelism=2"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def spark_cluster(tmp_path_factory):
    """A Spark standalone master and two workers (1 core each) on this machine; its master URL."""
    _job_server("spark")  # no cluster for a job server that cannot be had
    try:
        import pyspark
    except ImportError:
        _missing("spark: pyspark is not installed (its jars and spark-class run the cluster)")
    spark_home = Path(pyspark.__file__).parent
    folder = tmp_path_factory.mktemp("spark-cluster")
    env = {**os.environ, "SPARK_HOME": str(spark_home), "SPARK_LOCAL_IP": "127.0.0.1"}
    spark_class = str(spark_home / "bin" / "spark-class")
    port = _free_port()
    master_url = f"spark://127.0.0.1:{port}"
    processes = []

    def start(name, *args):
        log = open(folder / f"{name}.log", "w")
        processes.append(subprocess.Popen([spark_class, *args], env=env, stdout=log, stderr=subprocess.STDOUT,
                                          cwd=folder))
        log.close()

    try:
        start("master", "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(port),
              "--webui-port", str(_free_port()))
        for n in (1, 2):
            start(f"worker{n}", "org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1", "--cores", "1",
                  "--memory", "2g", "--webui-port", str(_free_port()), "--work-dir", str(folder / f"work{n}"),
                  master_url)
        deadline = time.monotonic() + 180
        while len(re.findall("Registering worker", (folder / "master.log").read_text())) < 2:
            if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
                pytest.fail(f"the Spark cluster did not come up: see {folder}")
            time.sleep(1)
        yield master_url
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture(scope="session")
def spark_flags(spark_cluster):
    jar = _job_server("spark")
    # The executors need Beam's runner classes, which the job server has on its own class path only: the job
    # server (a JVM started by Beam from this process) reads the Spark property from its Java options.
    lib = server_dir("spark") / "lib"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("JAVA_TOOL_OPTIONS", f"-Dspark.executor.extraClassPath={lib}/*")
        yield ["--runner=SparkRunner", f"--spark_master_url={spark_cluster}", f"--spark_job_server_jar={jar}",
               "--environment_type=LOOPBACK"]
