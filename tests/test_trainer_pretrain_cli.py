"""The pretraining command line and what it stands on: YAML configs with typed ``key=value`` overrides and
errors that name the key, the deterministic WordPiece trainer, ``python -m trainer.pretrain`` runs of the
WAE objective (XQuAD shards) and of CLISM + CACR + MLM (Europarl shards), and one-line errors."""
import json
from collections import Counter
from pathlib import Path

import pytest
from transformers import AutoModelForMaskedLM, AutoTokenizer

from clism_fixtures import QUE, europarl_clism_rows, write_clism_dataset
from trainer.config import ConfigError, PretrainConfig, load_config
from trainer.data.tokenizer_training import shard_texts, train_wordpiece, wordpiece_vocabulary
from trainer.loop.train import CHECKPOINTS, METRICS_FILE
from trainer.pretrain import main
from trainer_fixtures import write_mrc_dataset, xquad_rows

REPO = Path(__file__).resolve().parent.parent
CONFIGS = REPO / "configs"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ---- configuration --------------------------------------------------------------------------------------

def test_shipped_configs_load_with_the_papers_hyper_parameters():
    mpmr = load_config(CONFIGS / "pretrain_mpmr.yaml")
    assert mpmr.train.lr == 1e-5 and isinstance(mpmr.train.lr, float)
    assert mpmr.objective.name == "wae" and "xlm-roberta" in mpmr.model.name_or_path
    clism = load_config(CONFIGS / "pretrain_clism.yaml")
    assert (clism.train.global_batch_size, clism.train.lr, clism.train.total_steps, clism.train.warmup_steps,
            clism.data.max_length) == (64, 1e-5, 15000, 1500, 128)
    demo = load_config(CONFIGS / "demo_tiny_wae.yaml")
    assert demo.model.from_scratch["num_hidden_layers"] == 2 and demo.tokenizer.train_vocab_size


def test_overrides_are_typed_and_unknown_keys_are_named(tmp_path):
    config = load_config(CONFIGS / "demo_tiny_wae.yaml",
                         ["train.lr=2e-5", "data.batch_size=3", "data.train=[a,b]", "data.weights=[3,1]",
                          "objective.options.max_span_length=7", "train.max_grad_norm=null", "train.resume=false"])
    assert config.train.lr == 2e-5 and config.data.batch_size == 3 and config.data.train == ["a", "b"]
    assert config.data.weights == [3.0, 1.0] and config.objective.options["max_span_length"] == 7
    assert config.train.max_grad_norm is None and config.train.resume is False

    with pytest.raises(ConfigError, match="unknown key 'train.lrr'"):
        load_config(CONFIGS / "demo_tiny_wae.yaml", ["train.lrr=1"])
    with pytest.raises(ConfigError, match="data.batch_size: expected an integer"):
        load_config(CONFIGS / "demo_tiny_wae.yaml", ["data.batch_size=many"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  lr: 1e-5\n  warm_up: 10\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: unknown key 'train.warm_up' \(known in train: lr, "):
        load_config(bad)
    bad.write_text("train: [unclosed\n")
    with pytest.raises(ConfigError, match=r"bad.yaml:2: not valid YAML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="data.weights has 1 values for 2"):
        load_config(CONFIGS / "demo_tiny_wae.yaml", ["data.train=[a,b]", "data.weights=[1]"])
    assert PretrainConfig().train.resume is True


# ---- tokenizer training ---------------------------------------------------------------------------------

def test_wordpiece_training_merges_the_most_frequent_pairs_deterministically():
    counts = Counter({"low": 5, "lower": 2, "lowest": 1, "newer": 3})
    vocab = wordpiece_vocabulary(counts, vocab_size=30, special_tokens=["[UNK]"])
    alphabet = ["##e", "##o", "##r", "##s", "##t", "##w", "l", "n"]
    assert vocab[:9] == ["[UNK]", *alphabet]
    # (l,##o) and (##o,##w) both occur 8 times; the tie goes to the smaller pair text ("##o" < "l"). Then
    # (l,##ow) 8, then (##e,##r) 5 beats the pairs seen 3 times.
    assert vocab[9:12] == ["##ow", "low", "##er"]
    assert wordpiece_vocabulary(Counter(dict(reversed(counts.items()))), 30, ["[UNK]"]) == vocab
    # Pairs seen once are not merged (min_frequency 2): the vocabulary stops short of 30.
    assert len(vocab) < 30 and "##st" not in vocab


def test_tokenizer_trained_on_shards_is_identical_across_runs(data_dir, tmp_path):
    rows = xquad_rows(data_dir, "en", limit=60)
    shards = write_mrc_dataset(tmp_path / "mrc", [rows[:30], rows[30:]])
    texts = list(shard_texts([str(shards)]))
    assert len(texts) == 120 and texts[:2] == [rows[0]["query"], rows[0]["context"]]
    first, second = train_wordpiece(texts, 600), train_wordpiece(list(reversed(texts)), 600)
    assert first.get_vocab() == second.get_vocab() and len(first) == 600
    encoded = first(rows[0]["query"], rows[0]["context"])
    assert encoded["input_ids"][0] == first.cls_token_id and encoded["token_type_ids"][-1] == 1
    # Every character of the corpus is in the vocabulary, so no training text needs [UNK].
    assert first.unk_token_id not in first(rows[0]["context"])["input_ids"]
    assert first.tokenize("[MASK] was") == ["[MASK]", "was"]


# ---- the command line -----------------------------------------------------------------------------------

def _tiny_model_overrides(output_dir: Path, train_dirs: list[Path]) -> list[str]:
    return [f"output_dir={output_dir}", f"data.train=[{','.join(str(d) for d in train_dirs)}]",
            "model.from_scratch.hidden_size=32", "model.from_scratch.intermediate_size=64",
            "model.from_scratch.num_hidden_layers=1", "model.from_scratch.max_position_embeddings=128",
            "tokenizer.train_vocab_size=500", "data.batch_size=8", "data.max_length=128",
            "data.max_query_length=32", "train.log_every=1", "train.checkpoint_every=0", "train.eval_every=3"]


def test_cli_runs_the_demo_config_with_overrides(data_dir, tmp_path, capsys):
    rows = xquad_rows(data_dir, "en", limit=48, unanswerable_every=4)
    en = write_mrc_dataset(tmp_path / "en", [rows[:24], rows[24:]])
    de = write_mrc_dataset(tmp_path / "de", [xquad_rows(data_dir, "de", limit=24)])
    out = tmp_path / "run"
    overrides = _tiny_model_overrides(out, [en, de]) + [
        "data.weights=[3,1]", f"data.eval=[{en}]", "train.eval_max_batches=2", "train.total_steps=6",
        "train.lr=3e-3", "objective.options.max_span_length=20"]
    assert main(["--config", str(CONFIGS / "demo_tiny_wae.yaml"), *overrides]) == 0
    assert "trained to step 6" in capsys.readouterr().out

    records = [json.loads(line) for line in (out / METRICS_FILE).read_text().splitlines()]
    train_records = [r for r in records if r["split"] == "train"]
    assert [r["step"] for r in train_records] == list(range(1, 7))
    assert [r["step"] for r in records if r["split"] == "eval"] == [3, 6]
    assert train_records[0]["lr"] == pytest.approx(3e-3 / 4)  # demo config: 4 warm-up steps
    saved = (out / "config.yaml").read_text()
    assert "max_span_length: 20" in saved and "hidden_size: 32" in saved
    checkpoint = out / CHECKPOINTS / "step-00000006"
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    state = json.loads((checkpoint / "trainer_state.json").read_text())
    assert state["run"]["config"]["train"]["lr"] == 3e-3
    assert json.loads((checkpoint / "config.json").read_text())["vocab_size"] == len(tokenizer)


def test_cli_trains_clism_cacr_mlm_and_logs_each_term(data_dir, tmp_path):
    rows = europarl_clism_rows(data_dir, limit=48)
    shards = write_clism_dataset(tmp_path / "clism", [rows[:24], rows[24:]])
    out = tmp_path / "run"
    overrides = _tiny_model_overrides(out, [shards]) + [
        "objective.name=clism", "objective.options={mlm_weight: 0.5, cacr_scale: 20.0}", "train.total_steps=4",
        "train.lr=1e-3", "data.eval=[]", "data.max_length=40"]
    assert main(["--config", str(CONFIGS / "demo_tiny_wae.yaml"), *overrides]) == 0
    records = [json.loads(line) for line in (out / METRICS_FILE).read_text().splitlines()]
    assert len(records) == 4
    for record in records:
        assert {"loss", "loss_clism", "loss_cacr", "loss_mlm", "questions", "questions_kept"} <= set(record)
        assert record["loss"] == pytest.approx(record["loss_clism"] + record["loss_cacr"] + 0.5 * record["loss_mlm"],
                                               rel=1e-4)
    checkpoint = out / CHECKPOINTS / "step-00000004"
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    assert QUE in tokenizer.get_vocab()
    encoder = AutoModelForMaskedLM.from_pretrained(checkpoint)
    assert encoder.get_input_embeddings().num_embeddings == len(tokenizer)


def test_cli_errors_are_one_line(data_dir, tmp_path, capsys):
    assert main(["--config", str(tmp_path / "missing.yaml")]) == 1
    assert capsys.readouterr().err.strip().splitlines() == [f"error: config file {tmp_path / 'missing.yaml'} not found"]
    demo = ["--config", str(CONFIGS / "demo_tiny_wae.yaml"), f"output_dir={tmp_path / 'run'}", "data.eval=[]"]
    assert main([*demo, f"data.train=[{tmp_path / 'nowhere'}]"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "nowhere" in err[0]
    assert main([*demo, "objective.name=gem"]) == 1
    assert "unknown objective 'gem'; choose one of wae, clism" in capsys.readouterr().err
    shards = write_mrc_dataset(tmp_path / "mrc", [xquad_rows(data_dir, "en", limit=8)])
    assert main([*demo, f"data.train=[{shards}]", "data.max_length=512"]) == 1
    assert "512 tokens (data.max_length) do not fit the encoder's 256 positions" in capsys.readouterr().err
    # A dataset of another kind than the objective reads: named, on one line.
    assert main([*demo, f"data.train=[{shards}]", "objective.name=clism", "objective.options={}"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "kind 'mrc', expected 'clism'" in err[0]


def test_help_names_the_config_and_overrides(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "--config" in out and "train.lr=2e-5" in out
