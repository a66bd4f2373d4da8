"""The SLURM and Kubernetes launch examples hang together: names, sizes, rendezvous, user and entry module."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
SBATCH = REPO_ROOT / "deploy" / "slurm" / "pretrain.sbatch"
K8S = REPO_ROOT / "deploy" / "k8s" / "pretrain-job.yaml"


def _k8s():
    docs = {doc["kind"]: doc for doc in yaml.safe_load_all(K8S.read_text(encoding="utf-8"))}
    return docs["Service"], docs["Job"]


def test_kubernetes_job_rendezvous_and_sizes_agree():
    service, job = _k8s()
    spec, pod = job["spec"], job["spec"]["template"]["spec"]
    container = pod["containers"][0]
    env = {e["name"]: e["value"] for e in container["env"]}
    args = container["args"]
    nodes = int(env["NNODES"])
    assert spec["completionMode"] == "Indexed" and spec["completions"] == spec["parallelism"] == nodes
    assert container["resources"]["limits"]["nvidia.com/gpu"] == int(env["NPROC_PER_NODE"])
    # Pod 0 of the indexed job, reached through the headless service, hosts the c10d store.
    assert service["spec"]["clusterIP"] == "None" and pod["subdomain"] == service["metadata"]["name"]
    assert service["spec"]["selector"] == {"job-name": job["metadata"]["name"]}
    host, port = env["RDZV_ENDPOINT"].rsplit(":", 1)
    assert host == f"{job['metadata']['name']}-0.{service['metadata']['name']}"
    assert int(port) == service["spec"]["ports"][0]["port"] == container["ports"][0]["containerPort"]
    assert "--rdzv-backend=c10d" in args and "--rdzv-endpoint=$(RDZV_ENDPOINT)" in args
    assert "--nnodes=$(NNODES)" in args and "--nproc-per-node=$(NPROC_PER_NODE)" in args
    module = args[args.index("-m") + 1]
    assert (REPO_ROOT / (module.replace(".", "/") + ".py")).is_file()
    assert (REPO_ROOT / args[args.index("--config") + 1]).is_file()
    # Checkpoints on the shared volume, as the non-root user the image declares.
    output = next(a.split("=", 1)[1] for a in args if a.startswith("output_dir="))
    mounts = [m["mountPath"] for m in container["volumeMounts"]]
    assert any(output.startswith(m + "/") for m in mounts)
    uid = re.search(r"ARG TRAINER_UID=(\d+)", (REPO_ROOT / "docker/trainer.Dockerfile").read_text()).group(1)
    assert pod["securityContext"]["runAsNonRoot"] and pod["securityContext"]["runAsUser"] == int(uid)


def test_sbatch_script_is_valid_bash_and_launches_torchrun_with_c10d():
    assert subprocess.run(["bash", "-n", str(SBATCH)], capture_output=True).returncode == 0
    text = SBATCH.read_text(encoding="utf-8")
    assert "#SBATCH --requeue" in text and "#SBATCH --ntasks-per-node=1" in text
    for flag in ("--rdzv-backend=c10d", '--rdzv-endpoint="$MASTER_ADDR:$MASTER_PORT"', '--nnodes="$SLURM_NNODES"',
                 "-m trainer.pretrain"):
        assert flag in text, flag
    assert (REPO_ROOT / "trainer" / "pretrain.py").is_file()
    shellcheck = shutil.which("shellcheck")
    if shellcheck:  # optional here: CI lints the Dockerfiles, this is a bonus where shellcheck exists
        done = subprocess.run([shellcheck, str(SBATCH)], capture_output=True, text=True)
        assert done.returncode == 0, done.stdout
