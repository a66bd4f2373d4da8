"""The job-server launcher: a manifest-only jar that ``java -jar`` runs (its long Class-Path wrapped as the jar
specification asks), and a clear refusal for a Beam release no job server can be made for."""
import shutil
import subprocess

import pytest

from pipelines.engines import BEAM_VERSION
from pipelines.engines.jars import JOB_SERVERS, JarUnavailable, fetch, write_launcher


def test_launcher_runs_its_main_class_from_a_long_class_path(tmp_path):
    if shutil.which("javac") is None or shutil.which("java") is None:
        pytest.skip("no JDK (javac, java) on PATH")
    source = tmp_path / "src" / "Hello.java"
    source.parent.mkdir()
    source.write_text('public class Hello { public static void main(String[] a) { System.out.println("hello " + '
                      'a.length); } }')
    (tmp_path / "lib").mkdir()
    subprocess.run(["javac", "-d", str(tmp_path / "classes"), str(source)], check=True)
    subprocess.run(["jar", "cf", str(tmp_path / "lib" / "hello.jar"), "-C", str(tmp_path / "classes"), "."],
                   check=True)
    # Enough entries that the attribute spans many 72-byte manifest lines, the real jar among them.
    class_path = [f"lib/missing-{n:03d}-with-a-long-name.jar" for n in range(200)] + ["lib/hello.jar"]
    write_launcher(tmp_path / "launcher.jar", "Hello", class_path, add_opens="java.base/java.lang java.base/sun.nio.ch")
    done = subprocess.run(["java", "-jar", str(tmp_path / "launcher.jar"), "x", "y"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "hello 2"


@pytest.mark.parametrize("engine", sorted(JOB_SERVERS))
def test_a_release_without_served_runner_modules_is_refused_naming_them(engine, tmp_path):
    spec = JOB_SERVERS[engine]
    if BEAM_VERSION in spec.sha256:
        pytest.skip(f"a job server can be made for Beam {BEAM_VERSION}")
    with pytest.raises(JarUnavailable) as refused:
        fetch(engine, cache=tmp_path)
    message = str(refused.value)
    assert spec.published_job_server in message and spec.coordinates() in message
    assert ", ".join(sorted(spec.sha256)) in message
    assert not (tmp_path / "jars").exists()  # nothing half-made left behind
