"""Checkpoints: a run killed and resumed makes exactly the steps of the uninterrupted run (in process, and a
real process SIGKILLed in the middle of a save); partial checkpoints are never picked; the encoder and the
tokenizer load with the transformers Auto classes; only the last K checkpoints are kept."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModel, AutoTokenizer, BertConfig

from trainer.config import TrainConfig
from trainer.data.batches import ResumableBatches
from trainer.data.shards import MixedDataset, ShardDataset, ShardStreamConfig
from trainer.loop.checkpoint import latest_complete_checkpoint, list_checkpoints, resume_point
from trainer.loop.train import CHECKPOINTS, METRICS_FILE, StepRule, train
from trainer.objectives.registry import get_objective
from trainer.objectives.wae import WaeOptions
from trainer.pretrain import main as pretrain_main
from trainer_fixtures import training_texts, wordpiece_tokenizer, write_mrc_dataset, xquad_rows

REPO = Path(__file__).resolve().parent.parent


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def xquad(data_dir):
    return xquad_rows(data_dir, "en", limit=48, unanswerable_every=4)


@pytest.fixture(scope="module")
def shards(xquad, tmp_path_factory):
    return write_mrc_dataset(tmp_path_factory.mktemp("mrc") / "en", [xquad[:24], xquad[24:]], row_group_size=8)


def _setup(xquad, shards, num_workers=0):
    tokenizer = wordpiece_tokenizer(training_texts(xquad), vocab_size=400)
    wae = get_objective("wae")
    options = WaeOptions(max_length=96, max_query_length=24, max_span_length=20)
    torch.manual_seed(0)
    # Dropout stays on (BERT's 0.1): resuming must restore the random state to repeat the masks.
    encoder = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=48, max_position_embeddings=96)
    model = wae.build_model(encoder, tokenizer, options)
    dataset = MixedDataset([ShardDataset(shards, kind="mrc", config=ShardStreamConfig(seed=1, shuffle_buffer=16))],
                           [1.0], seed=1)
    return model, tokenizer, ResumableBatches(dataset, 6, wae.collator(tokenizer, options), num_workers, seed=1)


class _Crash(StepRule):
    def __init__(self, at_step):
        self.at_step = at_step

    def after_optimizer_step(self, module, optimizer, step):
        if step == self.at_step:
            raise KeyboardInterrupt("killed")


def _losses(records):
    return {r["step"]: r["loss"] for r in records if r["split"] == "train"}


def test_killed_and_resumed_run_repeats_the_uninterrupted_losses(xquad, shards, tmp_path):
    # 10 steps of 6 rows over 48 rows crosses an epoch; two dataloader workers take turns.
    config = TrainConfig(lr=2e-3, warmup_steps=2, total_steps=10, log_every=1, checkpoint_every=3, keep_last=2)
    model, tokenizer, batches = _setup(xquad, shards, num_workers=2)
    reference = train(model, batches, config, tmp_path / "reference", tokenizer=tokenizer)
    reference_params = {k: v.clone() for k, v in model.state_dict().items()}

    run = tmp_path / "run"
    model, tokenizer, batches = _setup(xquad, shards, num_workers=2)
    with pytest.raises(KeyboardInterrupt):
        train(model, batches, config, run, tokenizer=tokenizer, rule=_Crash(at_step=8))
    assert [step for step, _ in list_checkpoints(run / CHECKPOINTS)] == [3, 6]

    # A new process would rebuild everything from scratch: so does this.
    model, tokenizer, batches = _setup(xquad, shards, num_workers=2)
    resumed = train(model, batches, config, run, tokenizer=tokenizer)
    assert resumed.resumed_from.name == "step-00000006"
    assert _losses(resumed.records) == {s: v for s, v in _losses(reference.records).items() if s > 6}
    assert all(torch.equal(reference_params[k], v) for k, v in model.state_dict().items())
    # The log holds each step once: the killed run's steps 7 and 8 were replaced by the resumed ones.
    logged = [json.loads(line) for line in (run / METRICS_FILE).read_text().splitlines()]
    assert [r["step"] for r in logged] == list(range(1, 11))
    assert _losses(logged) == _losses(reference.records)
    # keep_last=2
    assert [step for step, _ in list_checkpoints(run / CHECKPOINTS)] == [9, 10]


def test_checkpoint_loads_with_transformers_auto_classes(xquad, shards, tmp_path):
    model, tokenizer, batches = _setup(xquad, shards)
    result = train(model, batches, TrainConfig(lr=1e-3, total_steps=2, log_every=1), tmp_path, tokenizer=tokenizer)
    checkpoint = result.checkpoint
    names = {p.name for p in checkpoint.iterdir()}
    assert {"config.json", "model.safetensors", "heads.safetensors", "optimizer.pt", "scheduler.pt",
            "rank-00000.pt", "trainer_state.json", "tokenizer.json"} <= names

    encoder = AutoModel.from_pretrained(checkpoint).eval()
    model.eval()
    batch = next(iter(batches))
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids")}
    with torch.no_grad():
        assert torch.equal(encoder(**inputs).last_hidden_state, model.encoder(**inputs).last_hidden_state)
    loaded_tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    text = xquad[0]["context"]
    assert loaded_tokenizer(text)["input_ids"] == tokenizer(text)["input_ids"]
    heads = load_file(str(checkpoint / "heads.safetensors"))
    assert set(heads) == {k for k in model.state_dict() if k.startswith("projection.")}
    assert torch.equal(heads["projection.dense_in.weight"], model.projection.dense_in.weight)


def test_partial_checkpoints_are_never_picked(tmp_path):
    (tmp_path / "step-00000004").mkdir()  # no trainer_state.json: incomplete
    (tmp_path / ".tmp-step-00000006").mkdir()
    (tmp_path / ".tmp-step-00000006" / "trainer_state.json").write_text("{}")
    assert latest_complete_checkpoint(tmp_path) is None
    (tmp_path / "step-00000002").mkdir()
    (tmp_path / "step-00000002" / "trainer_state.json").write_text("{}")
    assert latest_complete_checkpoint(tmp_path) == tmp_path / "step-00000002"
    assert latest_complete_checkpoint(tmp_path / "missing") is None
    # What a run continues from: the newest complete checkpoint, none when asked not to resume from a fresh
    # directory, and a refusal rather than an overwrite when asked not to resume over existing checkpoints.
    assert resume_point(tmp_path, resume=True) == tmp_path / "step-00000002"
    assert resume_point(tmp_path / "missing", resume=False) is None
    with pytest.raises(FileExistsError, match="train.resume is false"):
        resume_point(tmp_path, resume=False)


# The run is SIGKILLed by itself while writing heads.safetensors of its second checkpoint: its rank file,
# encoder and tokenizer are already in the temporary directory, the rest is not.
_KILL_DURING_SECOND_SAVE = """
import os, signal, sys
import trainer.loop.checkpoint as checkpoint
from trainer.pretrain import main
real_save_file, saves = checkpoint.save_file, []
def save_file(*args, **kwargs):
    saves.append(1)
    if len(saves) == 2:
        os.kill(os.getpid(), signal.SIGKILL)
    return real_save_file(*args, **kwargs)
checkpoint.save_file = save_file
sys.exit(main(sys.argv[1:]))
"""


def _write_config(path: Path, shards: Path) -> Path:
    path.write_text(f"""
model:
  from_scratch: {{model_type: bert, hidden_size: 32, num_hidden_layers: 1, num_attention_heads: 2,
                 intermediate_size: 48, max_position_embeddings: 96}}
tokenizer: {{train_vocab_size: 400}}
data: {{train: ["{shards}"], batch_size: 6, max_length: 96, max_query_length: 24, shuffle_buffer: 16}}
train: {{lr: 2e-3, warmup_steps: 2, total_steps: 6, log_every: 1, checkpoint_every: 2, seed: 3}}
objective: {{name: wae, options: {{max_span_length: 20}}}}
""")
    return path


def test_process_killed_mid_save_leaves_no_partial_checkpoint_and_resumes_exactly(shards, tmp_path):
    config = _write_config(tmp_path / "config.yaml", shards)
    assert pretrain_main(["--config", str(config), f"output_dir={tmp_path / 'reference'}"]) == 0
    reference = [json.loads(line) for line in (tmp_path / "reference" / METRICS_FILE).read_text().splitlines()]

    run = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    killed = subprocess.run([sys.executable, "-c", _KILL_DURING_SECOND_SAVE, "--config", str(config),
                             f"output_dir={run}"], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert killed.returncode == -9, killed.stderr[-2000:]
    partial = run / CHECKPOINTS / ".tmp-step-00000004"
    assert (partial / "model.safetensors").is_file() and not (partial / "heads.safetensors").exists()
    assert latest_complete_checkpoint(run / CHECKPOINTS) == run / CHECKPOINTS / "step-00000002"

    assert pretrain_main(["--config", str(config), f"output_dir={run}"]) == 0
    assert not partial.exists()  # cleared by the next save
    resumed = [json.loads(line) for line in (run / METRICS_FILE).read_text().splitlines()]
    assert [r["step"] for r in resumed] == list(range(1, 7))
    assert _losses(resumed) == _losses(reference)
    assert [step for step, _ in list_checkpoints(run / CHECKPOINTS)] == [2, 4, 6]  # keep_last 3
