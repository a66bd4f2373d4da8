"""Catalogue: checkpoint folders that are not what the trainer wrote. A real checkpoint of a 2-step
``trainer.pretrain`` run on XQuAD MRC shards is tampered with: a pickle that would run code when loaded must be
refused without being run (tensors come from safetensors; the one pickled file is loaded ``weights_only``), and
a ``config.json`` of another model type must stop a run starting from it, not become a randomly initialised
model."""
import json
import shutil
from pathlib import Path

import pytest
import torch

from hostile.outcomes import assert_failed_cleanly
from trainer.pretrain import main as pretrain_main
from trainer_fixtures import write_mrc_dataset, xquad_rows

DEMO = Path(__file__).resolve().parents[2] / "configs" / "demo_tiny_wae.yaml"

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_torch_thread")]


def _pretrain(out: Path, dataset: Path, steps: int, *overrides: str) -> int:
    return pretrain_main(["--config", str(DEMO), f"output_dir={out}", f"data.train=[{dataset}]", "data.eval=[]",
                          f"train.total_steps={steps}", "train.warmup_steps=0", "train.checkpoint_every=2",
                          "train.log_every=1", *overrides])


@pytest.fixture(scope="module")
def finished_run(data_dir, tmp_path_factory):
    """A complete 2-step run: its checkpoint is the original every test copies and damages."""
    folder = tmp_path_factory.mktemp("ckpt")
    rows = xquad_rows(data_dir, "en", limit=16, unanswerable_every=4)
    dataset = write_mrc_dataset(folder / "mrc", [rows])
    out = folder / "run"
    assert _pretrain(out, dataset, 2) == 0
    (checkpoint,) = [p for p in out.glob("**/step-*") if p.is_dir()]
    return dataset, out, checkpoint.relative_to(out)


@pytest.fixture
def run_copy(finished_run, tmp_path):
    dataset, out, checkpoint = finished_run
    copy = tmp_path / "run"
    shutil.copytree(out, copy)
    return dataset, copy, copy / checkpoint


class _RunsCode:
    """Unpickling this calls ``open(marker, "w")``: the file appearing would prove the pickle ran."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


def test_pickle_that_would_run_code_is_refused(run_copy, tmp_path, capsys):
    dataset, out, checkpoint = run_copy
    marker = tmp_path / "the-pickle-ran"
    rank_file = checkpoint / "rank-00000.pt"
    torch.save({"rng": _RunsCode(marker), "data": None}, rank_file)
    capsys.readouterr()
    status = _pretrain(out, dataset, 4)  # resumes from the tampered checkpoint
    assert_failed_cleanly(status, capsys.readouterr().err, str(rank_file), "refused")
    assert not marker.exists(), "the checkpoint's pickle was run"
    assert not (out / checkpoint.parent.name / "step-00000004").exists()


def test_config_json_of_another_model_type(run_copy, tmp_path, capsys):
    # The checkpoint as the encoder a new run starts from (model.name_or_path), its config.json claiming
    # DistilBERT: transformers would build one, find 4 of its 36 weights in the file and initialise the rest.
    dataset, out, checkpoint = run_copy
    config = json.loads((checkpoint / "config.json").read_text())
    config["model_type"] = "distilbert"
    (checkpoint / "config.json").write_text(json.dumps(config))
    capsys.readouterr()
    status = _pretrain(tmp_path / "continued", dataset, 2, f"model.name_or_path={checkpoint}",
                       "model.from_scratch=null", "tokenizer.train_vocab_size=null")
    assert_failed_cleanly(status, capsys.readouterr().err, str(checkpoint / "config.json"), "'distilbert'",
                          "holds only 4 of its 36 weights")
    assert not (tmp_path / "continued").exists()


def test_model_folder_with_pickled_weights(run_copy, tmp_path, capsys):
    # A model folder to start from whose weights are a pickle (pytorch_model.bin) that would run code.
    dataset, out, checkpoint = run_copy
    (checkpoint / "model.safetensors").unlink()
    marker = tmp_path / "the-pickle-ran"
    torch.save({"embeddings.word_embeddings.weight": _RunsCode(marker)}, checkpoint / "pytorch_model.bin")
    capsys.readouterr()
    status = _pretrain(tmp_path / "continued", dataset, 2, f"model.name_or_path={checkpoint}",
                       "model.from_scratch=null", "tokenizer.train_vocab_size=null")
    assert_failed_cleanly(status, capsys.readouterr().err, str(checkpoint / "pytorch_model.bin"),
                          "the trainer reads safetensors only")
    assert not marker.exists(), "the model folder's pickle was run"


def test_heads_file_cut_short(run_copy, capsys):
    # Resuming reads heads.safetensors itself (not through transformers): its error must name it as well.
    dataset, out, checkpoint = run_copy
    heads = checkpoint / "heads.safetensors"
    heads.write_bytes(heads.read_bytes()[:-64])
    capsys.readouterr()
    status = _pretrain(out, dataset, 4)
    assert_failed_cleanly(status, capsys.readouterr().err, str(heads), "not a readable safetensors file")
    assert not (out / checkpoint.parent.name / "step-00000004").exists()
