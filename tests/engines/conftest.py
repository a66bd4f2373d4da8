"""The engines the pipelines are checked on, beside the local FnApiRunner: Prism (Beam's portable local runner,
built by ``python -m pipelines.engines.prism build``), Flink and Spark through Beam's job servers (made by
``python -m pipelines.engines.jars fetch``). Each engine's fixture gives the Beam flags of a run on it; what it
needs and lacks fails the test under CI=true and skips it elsewhere, like the data.

Both run as standalone clusters started here, behind the job server. Spark: a master and two one-core workers
from PyPI's pyspark (its ``spark-class``). Flink: a job manager and two one-slot task managers, started with
``java`` from the ``lib/`` of a Flink 1.19 distribution (``$FLINK_HOME``, or the ``pyflink/lib`` that PyPI's
apache-flink-libraries installs: Maven Central does not serve ``flink-dist``, and that package has the jars but
not the start scripts). The job server made by ``pipelines.engines.jars`` names its jars in its manifest, so
they do not travel with the job: the task managers and the Spark executors get them on their class path.
"""
import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.request
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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _flink_lib() -> Path | None:
    if os.environ.get("FLINK_HOME"):
        return Path(os.environ["FLINK_HOME"]) / "lib"
    try:
        import pyflink
    except ImportError:
        return None
    return Path(pyflink.__file__).parent / "lib"


# What the scripts of a Flink distribution would compute for a small task manager, given explicitly since
# the processes are started with java directly.
_FLINK_CONFIG = """jobmanager: {{rpc: {{address: 127.0.0.1, port: {rpc}}}, bind-host: 127.0.0.1,
  memory: {{process: {{size: 1024m}}}}}}
rest: {{port: {rest}, address: 127.0.0.1, bind-address: 127.0.0.1}}
taskmanager:
  bind-host: 127.0.0.1
  host: 127.0.0.1
  numberOfTaskSlots: 1
  cpu: {{cores: 1}}
  memory: {{framework: {{heap: {{size: 128m}}, off-heap: {{size: 128m}}}}, task: {{heap: {{size: 384m}},
    off-heap: {{size: 0m}}}}, network: {{min: 256m, max: 256m}}, managed: {{size: 128m}},
    jvm-metaspace: {{size: 256m}}, jvm-overhead: {{min: 192m, max: 192m}}}}
parallelism: {{default: 2}}
"""


class _Processes:
    """Processes this fixture started, each logging to a file of its own; stopped in reverse order."""

    def __init__(self, folder: Path):
        self.folder, self.started = folder, []

    def start(self, name: str, command: list[str], env: dict | None = None) -> None:
        with open(self.folder / f"{name}.log", "w") as log:
            self.started.append(subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                                                 cwd=self.folder))

    def alive(self) -> bool:
        return all(process.poll() is None for process in self.started)

    def stop(self) -> None:
        for process in reversed(self.started):
            process.terminate()
        for process in self.started:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait(ready, processes: _Processes, what: str, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while not ready():
        if time.monotonic() > deadline or not processes.alive():
            pytest.fail(f"{what} did not come up: see {processes.folder}")
        time.sleep(1)


@pytest.fixture(scope="session")
def flink_cluster(tmp_path_factory):
    """A Flink standalone cluster on this machine (a job manager, two task managers of one slot); its REST
    address."""
    jar = _job_server("flink")  # no cluster for a job server that cannot be had
    lib = _flink_lib()
    if lib is None or not any(lib.glob("flink-dist*.jar")):
        _missing("flink: no Flink 1.19 distribution: set FLINK_HOME, or pip install apache-flink-libraries==1.19.1")
    folder = tmp_path_factory.mktemp("flink-cluster")
    rest = _free_port()
    (folder / "config.yaml").write_text(_FLINK_CONFIG.format(rpc=_free_port(), rest=rest), encoding="utf-8")
    processes = _Processes(folder)
    try:
        processes.start("jobmanager", ["java", f"-Dlog.file={folder / 'jobmanager.flink.log'}", "-cp", f"{lib}/*",
                                       "org.apache.flink.runtime.entrypoint.StandaloneSessionClusterEntrypoint",
                                       "--configDir", str(folder)])
        classes = f"{lib}/*:{jar.parent / 'lib'}/*"  # Beam's runner classes for the task managers
        for n in (1, 2):
            processes.start(f"taskmanager{n}", ["java", f"-Dlog.file={folder / f'taskmanager{n}.flink.log'}", "-cp",
                                                classes, "org.apache.flink.runtime.taskexecutor.TaskManagerRunner",
                                                "--configDir", str(folder), f"-Dtaskmanager.resource-id=tm{n}"])

        def two_task_managers() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{rest}/overview", timeout=5) as answer:
                    return json.load(answer).get("taskmanagers") == 2
            except OSError:
                return False
        _wait(two_task_managers, processes, "the Flink cluster")
        yield f"127.0.0.1:{rest}"
    finally:
        processes.stop()


@pytest.fixture(scope="session")
def flink_flags(flink_cluster):
    jar = _job_server("flink")
    return ["--runner=FlinkRunner", f"--flink_master={flink_cluster}", f"--flink_job_server_jar={jar}",
            "--flink_version=1.19", "--environment_type=LOOPBACK", "--parallelism=2"]


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
    master_url = f"spark://127.0.0.1:{_free_port()}"
    processes = _Processes(folder)
    try:
        processes.start("master", [spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                                   "--port", master_url.rsplit(":", 1)[1], "--webui-port", str(_free_port())], env)
        for n in (1, 2):
            processes.start(f"worker{n}", [spark_class, "org.apache.spark.deploy.worker.Worker", "--host",
                                           "127.0.0.1", "--cores", "1", "--memory", "2g", "--webui-port",
                                           str(_free_port()), "--work-dir", str(folder / f"work{n}"), master_url],
                            env)
        _wait(lambda: len(re.findall("Registering worker", (folder / "master.log").read_text())) >= 2, processes,
              "the Spark cluster")
        yield master_url
    finally:
        processes.stop()


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
