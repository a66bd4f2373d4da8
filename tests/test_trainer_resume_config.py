"""Config traps of the training commands: a run resumed with another config is refused (naming the keys, before
anything is written) unless only keys a resume may change differ; raising train.total_steps continues a run; a
YAML key given twice and a learning rate of 0 are refused; torch's thread count follows runtime.threads and
OMP_NUM_THREADS."""
import json
import logging
from pathlib import Path

import pytest

from finetune_fixtures import read_records, run_finetune, tiny_config
from trainer.config import ConfigError, load_config
from trainer.finetune_config import FinetuneConfig
from trainer.loop.resume import resume_differences
from trainer.loop.threads import resolve_threads, usable_cpus
from trainer.loop.train import CHECKPOINTS, METRICS_FILE
from trainer.pretrain import main as pretrain_main
from trainer_fixtures import write_mrc_dataset, xquad_rows

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "configs" / "demo_tiny_wae.yaml"

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ---- YAML keys given twice, learning rates that train nothing --------------------------------------------------

def test_a_key_given_twice_is_refused_with_file_and_line_at_any_depth(tmp_path):
    config = tmp_path / "twice.yaml"
    config.write_text("train:\n  lr: 1.0e-3\n  total_steps: 4\n  lr: 2.0e-3\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"^{config}:4: key 'lr' given twice \(lines 2 and 4\)"):
        load_config(config)
    config.write_text("output_dir: a\ntrain: {lr: 1.0e-3}\noutput_dir: b\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"^{config}:3: key 'output_dir' given twice"):
        load_config(config)
    config.write_text("objective:\n  name: wae\n  options: {max_span_length: 30, max_span_length: 20}\n",
                      encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"^{config}:3: key 'max_span_length' given twice \(line 3, columns"):
        load_config(config)
    with pytest.raises(ConfigError, match="override 'objective.options={a: 1, a: 2}': key 'a' given twice"):
        load_config(DEMO, ["objective.options={a: 1, a: 2}"])
    # A merge key's values are there to be overridden: not a key given twice.
    config.write_text("defaults: &train {lr: 1.0e-3, total_steps: 4}\ntrain:\n  <<: *train\n  lr: 2.0e-3\n",
                      encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown key 'defaults'"):  # read, and only then refused as unknown
        load_config(config)


@pytest.mark.parametrize("lr", ["0", "0.0", "-1e-5", ".nan"])
def test_a_learning_rate_that_trains_nothing_is_refused(lr):
    with pytest.raises(ConfigError, match=r"train.lr must be positive, not .*trains nothing"):
        load_config(DEMO, [f"train.lr={lr}"])
    with pytest.raises(ConfigError, match=r"train.lr must be positive"):
        load_config(REPO / "configs" / "demo_tiny_finetune_qa.yaml", [f"train.lr={lr}"], cls=FinetuneConfig)


# ---- which differences a resume may have ---------------------------------------------------------------------

def test_resume_differences_split_refused_from_allowed_keys():
    config = load_config(DEMO, ["train.total_steps=80", "train.log_every=1", "runtime.threads=3",
                                "output_dir=elsewhere", "objective.options.max_span_length=20"])
    saved = json.loads(json.dumps(load_config(DEMO).to_dict()))
    refused, allowed = resume_differences(config, saved)
    assert refused == ["objective.options.max_span_length"]
    assert sorted(allowed) == ["output_dir", "runtime.threads", "train.log_every", "train.total_steps"]
    # A mapping's entries are compared one by one: an option only one side has is named.
    saved["objective"]["options"]["mask_prob"] = 0.2
    saved["train"]["adam_betas"] = [0.9, 0.98]
    refused, _ = resume_differences(config, saved)
    assert refused == ["train.adam_betas", "objective.options.mask_prob", "objective.options.max_span_length"]
    # Written before a key existed: the key counts as its default. A key the code no longer has: ignored.
    saved = json.loads(json.dumps(load_config(DEMO).to_dict()))
    del saved["runtime"], saved["train"]["seed"]
    saved["train"]["an_old_key"] = 1
    assert resume_differences(load_config(DEMO), saved) == ([], [])
    assert resume_differences(load_config(DEMO, ["train.seed=1"]), saved)[0] == ["train.seed"]


def test_finetune_refuses_what_changes_the_weights_and_allows_the_rest():
    base = FinetuneConfig()
    saved = json.loads(json.dumps(base.to_dict()))
    changed = FinetuneConfig()
    changed.evaluation.every, changed.evaluation.select = 10, "primary"
    changed.few_shot.seeds, changed.self_teaching.write_dir = [1, 2], "soft"
    changed.task.scheme, changed.data.train = "BIO", {"en": "train.conll"}
    refused, allowed = resume_differences(changed, saved)
    assert refused == ["task.scheme", "data.train.en", "evaluation.select"]
    assert sorted(allowed) == ["evaluation.every", "few_shot.seeds", "self_teaching.write_dir"]


# ---- pretraining: refused, continued, threads ------------------------------------------------------------------

def _pretrain(out: Path, shards: Path, *overrides: str) -> int:
    return pretrain_main([
        "--config", str(DEMO), f"output_dir={out}", f"data.train=[{shards}]", "data.eval=[]",
        "model.from_scratch.hidden_size=32", "model.from_scratch.intermediate_size=64",
        "model.from_scratch.num_hidden_layers=1", "model.from_scratch.max_position_embeddings=128",
        "tokenizer.train_vocab_size=300", "data.batch_size=4", "data.max_length=128", "data.max_query_length=32",
        "train.warmup_steps=0", "train.total_steps=2", "train.log_every=1", "train.checkpoint_every=0", *overrides])


def _thread_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("torch threads:")]


def test_pretraining_resumed_with_another_config_is_refused_and_total_steps_continues(
        data_dir, tmp_path, capsys, caplog, monkeypatch):
    caplog.set_level(logging.INFO)
    shards = write_mrc_dataset(tmp_path / "mrc", [xquad_rows(data_dir, "en", limit=16)])
    out = tmp_path / "run"
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert _pretrain(out, shards) == 0
    assert "trained to step 2" in capsys.readouterr().out
    # The thread count is read back from torch inside the run, after it set it.
    # (The inter-op count can be set once per process only: another test may have set it first.)
    lines = _thread_lines(caplog)
    assert len(lines) == 1 and lines[0].startswith("torch threads: 1 intra-op") and "(OMP_NUM_THREADS)" in lines[0]
    config_yaml, metrics = (out / "config.yaml").read_bytes(), (out / METRICS_FILE).read_bytes()

    # Another learning rate and another objective option: refused on one line naming both, nothing written.
    assert _pretrain(out, shards, "train.lr=5e-3", "objective.options.max_span_length=10") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "step-00000002 was written with another config" in err[0]
    assert "train.lr 0.001 -> 0.005" in err[0] and "objective.options.max_span_length 30 -> 10" in err[0]
    assert (out / "config.yaml").read_bytes() == config_yaml and (out / METRICS_FILE).read_bytes() == metrics

    # Only what a resume may change (more steps, its logging, threads): it continues from step 2.
    caplog.clear()
    assert _pretrain(out, shards, "train.total_steps=4", "train.log_every=2", "runtime.threads=2") == 0
    assert "trained to step 4" in capsys.readouterr().out
    lines = _thread_lines(caplog)
    assert len(lines) == 1 and lines[0].startswith("torch threads: 2 intra-op") and "(runtime.threads)" in lines[0]
    assert any("train.total_steps 2 -> 4" in r.getMessage() for r in caplog.records)
    records = [json.loads(line) for line in (out / METRICS_FILE).read_text().splitlines()]
    assert [r["step"] for r in records if r["split"] == "train"] == [1, 2, 4]
    assert json.loads((out / CHECKPOINTS / "step-00000004" / "trainer_state.json").read_text())[
        "run"]["config"]["train"]["total_steps"] == 4
    assert "total_steps: 4" in (out / "config.yaml").read_text()


# ---- fine-tuning: refused before anything is written -----------------------------------------------------------

def test_finetuning_resumed_with_another_config_is_refused(data_dir, tmp_path, capsys):
    ner = data_dir / "ner"
    out = tmp_path / "run"
    config = tiny_config(out, {"name": "ner", "head": "tagging"},
                         {"train": {"en": {"path": str(ner / "en-europarl.test.conll02"), "limit": 16}}},
                         train={"total_steps": 2})
    assert run_finetune(tmp_path, config) == 0
    capsys.readouterr()
    written = {name: (out / name).read_bytes() for name in ("config.yaml", "task.json", METRICS_FILE)}

    other = tiny_config(out, {"name": "ner", "head": "tagging", "scheme": "BIO"},
                        {"train": {"en": {"path": str(ner / "en-europarl.test.conll02"), "limit": 12}}},
                        train={"total_steps": 2})
    assert run_finetune(tmp_path, other, name="other.yaml") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "was written with another config" in err[0]
    assert "task.scheme 'BIOES' -> 'BIO'" in err[0] and "data.train.en.limit 16 -> 12" in err[0]
    assert {name: (out / name).read_bytes() for name in written} == written

    # The same config again: nothing to train, and said so.
    assert run_finetune(tmp_path, config) == 0
    assert "nothing to train" in capsys.readouterr().out
    # More steps: trained on from step 2.
    more = tiny_config(out, config["task"], config["data"], train={"total_steps": 3})
    assert run_finetune(tmp_path, more, name="more.yaml") == 0
    assert [r["step"] for r in read_records(out) if r["split"] == "train"] == [1, 2, 3]


# ---- the thread count when none is given -----------------------------------------------------------------------

def test_automatic_threads_follow_omp_num_threads_then_the_cpus_per_process(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    assert resolve_threads(0) == (3, "OMP_NUM_THREADS")
    assert resolve_threads(5)[0] == 5
    monkeypatch.delenv("OMP_NUM_THREADS")
    threads, why = resolve_threads(0)
    assert threads == max(1, usable_cpus() // 2) and "2 process(es)" in why
    monkeypatch.setenv("LOCAL_WORLD_SIZE", str(usable_cpus() * 4))  # more processes than CPUs: still one each
    assert resolve_threads(0)[0] == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "many")  # not a number: ignored, as the CPUs decide
    monkeypatch.delenv("LOCAL_WORLD_SIZE")
    assert resolve_threads(0)[0] == usable_cpus()
