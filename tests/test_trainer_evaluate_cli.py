"""``python -m trainer.evaluate``: per-language reports from fine-tuned checkpoints that match the report the
fine-tuning run wrote, QA with MLQA's normalisation for non-English languages, mPMR checkpoints evaluated
without fine-tuning, and one-line errors."""
import json

import pytest
import torch

from finetune_fixtures import read_report, run_finetune, save_tiny_mlm_backbone, tiny_config
from trainer.evaluate import main
from trainer.loop.checkpoint import latest_complete_checkpoint, save_checkpoint
from trainer.loop.train import CHECKPOINTS

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def ner_run(data_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ner")
    ner = data_dir / "ner"
    files = {"en": ner / "conll2003" / "eng.testa", "es": ner / "conll2002" / "esp.testa"}
    config = tiny_config(tmp / "run", {"name": "ner", "head": "tagging"},
                         {"train": {"en": {"path": str(ner / "conll2003" / "eng.train"), "limit": 40}},
                          "eval": {"en": {"path": str(files["en"]), "limit": 20},
                                   "es": {"path": str(files["es"]), "limit": 20, "encoding": "latin-1"}}},
                         train={"total_steps": 4, "lr": 5e-3})
    assert run_finetune(tmp, config) == 0
    return tmp / "run", files


def test_evaluate_reproduces_the_finetune_report(ner_run, tmp_path, capsys):
    out, files = ner_run
    json_out = tmp_path / "report.json"
    code = main(["--model", str(out), "--data", f"en={files['en']}", f"es={files['es']}", "--encoding", "es=latin-1",
                 "--limit", "20", "--json-out", str(json_out)])
    assert code == 0
    report = json.loads(json_out.read_text())
    finetuned = read_report(out)
    assert report["languages"] == finetuned["languages"] and report["counts"] == {"en": 20, "es": 20}
    assert report["transfer_gap"] == finetuned["transfer_gap"]
    assert report["model"] == str(latest_complete_checkpoint(out / CHECKPOINTS))
    table = capsys.readouterr().out.splitlines()
    assert table[0] == "| metric | en | es | Avg | Gap |"
    assert table[-1].startswith("| f1 | ") and len(table) == 5


def test_evaluate_qa_checkpoint_per_language(data_dir, tmp_path, capsys):
    """A QA checkpoint directory given directly; German and Chinese XQuAD scored (MLQA normalisation: Chinese
    answers compared character by character), the same figures the fine-tuning run reported."""
    xquad = data_dir / "qa" / "xquad"
    out = tmp_path / "run"
    config = tiny_config(out, {"name": "qa", "head": "start_end"},
                         {"train": {"en": {"path": str(xquad / "xquad.en.json"), "limit": 16}},
                          "eval": {lang: {"path": str(xquad / f"xquad.{lang}.json"), "limit": 6}
                                   for lang in ("en", "zh")}}, train={"total_steps": 2})
    assert run_finetune(tmp_path, config) == 0
    checkpoint = latest_complete_checkpoint(out / CHECKPOINTS)
    json_out = tmp_path / "qa.json"
    assert main(["--model", str(checkpoint), "--task", "qa", "--data", f"zh={xquad / 'xquad.zh.json'}",
                 f"en={xquad / 'xquad.en.json'}", "--limit", "6", "--json-out", str(json_out)]) == 0
    report = json.loads(json_out.read_text())
    assert list(report["languages"]) == ["en", "zh"]  # the source language first
    assert report["languages"] == read_report(out)["languages"]
    assert "| exact_match |" in capsys.readouterr().out


def test_mpmr_checkpoint_evaluated_without_fine_tuning(data_dir, tmp_path, capsys):
    """A pretraining checkpoint records no task: --task/--head say what to build, and the extractor's
    parameters come from its heads.safetensors."""
    from transformers import BertConfig

    from trainer.models.span_extractor import SpanExtractor
    from trainer_fixtures import training_texts, wordpiece_tokenizer, xquad_rows

    tokenizer = wordpiece_tokenizer(training_texts(xquad_rows(data_dir, "de", limit=8)), vocab_size=800)
    torch.manual_seed(3)
    model = SpanExtractor.from_encoder_config(BertConfig(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=512, pad_token_id=tokenizer.pad_token_id))
    checkpoint = save_checkpoint(tmp_path / "pretrain", 5, model, tokenizer=tokenizer)
    data = ["--data", f"de={data_dir / 'qa' / 'xquad' / 'xquad.de.json'}", "--limit", "4"]
    assert main(["--model", str(checkpoint), *data]) == 1
    assert "records no task" in capsys.readouterr().err
    assert main(["--model", str(checkpoint), "--task", "qa", "--head", "extractor", *data]) == 0
    assert "| f1 |" in capsys.readouterr().out


@pytest.mark.parametrize("arguments,message", [
    (["--task", "qa"], "holds a task 'ner' model, not 'qa'"),
    (["--head", "mrc"], "holds a head 'tagging' model, not 'mrc'"),
    (["--data", "es"], "--data takes LANG=PATH"),
    (["--data", "es=/nonexistent.conll"], "/nonexistent.conll not found"),
])
def test_errors_are_one_line(ner_run, capsys, arguments, message):
    out, files = ner_run
    if "--data" not in arguments:
        arguments = [*arguments, "--data", f"en={files['en']}"]
    assert main(["--model", str(out), *arguments]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


def test_xsr_and_mlm_retention_of_a_checkpoint_match_the_run(data_dir, tmp_path, capsys):
    """``--xsr``/``--mlm`` on a fine-tuned checkpoint give the figures the run measured "after" on the same probes
    (Tatoeba de-en pairs, English sentences), the MLM probe scored by the head of the backbone it started from."""
    from schemas.conll import read_conll
    from trainer.data.tokenizer_training import train_wordpiece

    ner, parallel = data_dir / "ner", data_dir / "parallel"
    english, german = parallel / "tatoeba.deu-eng.eng", parallel / "tatoeba.deu-eng.deu"
    europarl = [" ".join(s.tokens) for s in read_conll(ner / "en-europarl.test.conll02", tag_scheme=None)][:32]
    texts = [line.strip() for path in (english, german) for line in path.read_text().splitlines()[:60]]
    tokenizer = train_wordpiece(europarl + texts, 1200)
    backbone = save_tiny_mlm_backbone(tokenizer, tmp_path / "backbone", seed=7)
    out = tmp_path / "run"
    config = tiny_config(out, {"name": "ner", "head": "tagging", "scheme": "BIO"},
                         {"train": {"en": {"path": str(ner / "en-europarl.test.conll02"), "limit": 16}}},
                         model={"name_or_path": str(backbone), "from_scratch": None},
                         tokenizer={"train_vocab_size": None},
                         probes={"mlm": {"en": str(english)}, "xsr": {"de_en": [str(german), str(english)]},
                                 "size": 24, "batch_size": 16})
    assert run_finetune(tmp_path, config) == 0
    after = json.loads((out / "retention.json").read_text())
    json_out = tmp_path / "retention.json"
    capsys.readouterr()
    assert main(["--model", str(out), "--mlm", f"en={english}", "--xsr", f"de_en={german},{english}",
                 "--probe-size", "24", "--batch-size", "16", "--json-out", str(json_out)]) == 0
    printed = capsys.readouterr().out
    assert "P@1 now" in printed and "| en |" in printed and "| de_en |" in printed
    measured = json.loads(json_out.read_text())["retention"]
    for kind, name in (("mlm", "en"), ("xsr", "de_en")):
        for key, value in after[kind][name]["after"].items():
            assert measured[kind][name]["now"][key] == pytest.approx(value, rel=1e-5), (kind, key)
    # XSR alone needs no MLM head; a bad probe argument is one line.
    assert main(["--model", str(out), "--xsr", f"de_en={german},{english}", "--probe-size", "8"]) == 0
    capsys.readouterr()
    assert main(["--model", str(out), "--xsr", f"de_en={german}"]) == 1
    assert "--xsr takes NAME=SOURCE,TARGET" in capsys.readouterr().err
