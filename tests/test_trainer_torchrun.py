"""The trainer under its real launcher: ``torchrun --nproc-per-node 2 -m trainer.pretrain`` (gloo on CPU), as the
SLURM and Kubernetes recipes start it, finishes and leaves a checkpoint that loads. The other DDP tests start
their ranks with ``torch.multiprocessing``; only this one goes through torchrun's rendezvous and environment."""
import json
import os
import subprocess
import sys
from pathlib import Path

from transformers import AutoModelForMaskedLM, AutoTokenizer

from trainer.loop.train import CHECKPOINTS, METRICS_FILE
from trainer_fixtures import free_port, write_mrc_dataset, xquad_rows

REPO = Path(__file__).resolve().parent.parent


def test_torchrun_two_gloo_ranks_pretrain_to_a_loadable_checkpoint(data_dir, tmp_path):
    rows = xquad_rows(data_dir, "en", limit=48, unanswerable_every=4)
    shards = write_mrc_dataset(tmp_path / "mrc", [rows[:24], rows[24:]])
    out = tmp_path / "run"
    torchrun = Path(sys.executable).with_name("torchrun")
    command = [str(torchrun), "--nproc-per-node", "2", "--master-addr", "127.0.0.1",
               "--master-port", str(free_port()), "-m", "trainer.pretrain",
               "--config", str(REPO / "configs" / "demo_tiny_wae.yaml"),
               f"output_dir={out}", f"data.train=[{shards}]", "data.eval=[]",
               "model.from_scratch.hidden_size=32", "model.from_scratch.intermediate_size=64",
               "model.from_scratch.num_hidden_layers=1", "model.from_scratch.max_position_embeddings=128",
               "tokenizer.train_vocab_size=500", "data.batch_size=4", "data.max_length=128",
               "data.max_query_length=32", "train.total_steps=4", "train.log_every=1",
               "train.checkpoint_every=0", "objective.options.max_span_length=20"]
    # One intra-op thread per rank: two ranks on a 2-core machine gain nothing from more.
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": "", "PYTHONPATH": str(REPO)}
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    # One summary line: only rank 0 reports.
    assert done.stdout.count("trained to step 4") == 1, done.stdout

    records = [json.loads(line) for line in (out / METRICS_FILE).read_text().splitlines()]
    assert [r["step"] for r in records if r["split"] == "train"] == [1, 2, 3, 4]
    checkpoint = out / CHECKPOINTS / "step-00000004"
    state = json.loads((checkpoint / "trainer_state.json").read_text())
    assert state["world_size"] == 2 and state["run"]["config"]["train"]["total_steps"] == 4
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    encoder = AutoModelForMaskedLM.from_pretrained(checkpoint)
    assert encoder.get_input_embeddings().num_embeddings == len(tokenizer)
