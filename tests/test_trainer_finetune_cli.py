"""``python -m trainer.finetune`` end to end on real data with tiny from-scratch models: every task and head,
the cross-lingual strategies (translate-train on tagged shards, MTL-WS), GEM with MLM and XSR memories and its
retention measurement (paper 003 Table 1), heads loaded from pretraining checkpoints, the few-shot protocol's
reproducibility and sweep, and exact resume."""
import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from finetune_fixtures import (read_records, read_report, run_finetune, save_tiny_mlm_backbone, tatoeba_pair_files,
                               tiny_config, write_pair_tsv, write_semeval_from_conll, write_tagged_dataset)
from schemas.conll import read_conll
from trainer.config import load_config
from trainer.finetune_config import FinetuneConfig
from trainer.loop.checkpoint import latest_complete_checkpoint, save_checkpoint
from trainer.loop.train import CHECKPOINTS

REPO = Path(__file__).resolve().parent.parent


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def entry(path: Path, limit: int, **options) -> dict:
    return {"path": str(path), "limit": limit, **options}


def check_report(report: dict, languages: list[str], counts: dict[str, int]) -> None:
    assert list(report["languages"]) == languages
    assert report["counts"] == counts
    for lang in languages:
        for metric, value in report["languages"][lang].items():
            assert 0.0 <= value <= 100.0, (lang, metric, value)
    if len(languages) > 1 and report["source_lang"] in languages:
        targets = [lang for lang in languages if lang != report["source_lang"]]
        for metric in report["metrics"]:
            expected = report["languages"][report["source_lang"]][metric] - \
                sum(report["languages"][t][metric] for t in targets) / len(targets)
            assert report["transfer_gap"][metric] == pytest.approx(expected)


# ---- QA ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("head,train_file,eval_files", [
    ("start_end", "xquad/xquad.en.json", {"en": "xquad/xquad.en.json", "de": "xquad/xquad.de.json"}),
    ("extractor", "tydiqa-goldp/english_tydiqa_train.json", {"en": "tydiqa-goldp/english_tydiqa_dev.json"}),
    ("que", "xquad/xquad.en.json", {"de": "xquad/xquad.de.json"}),
])
def test_qa_heads_train_and_evaluate(data_dir, tmp_path, head, train_file, eval_files, capsys):
    qa = data_dir / "qa"
    out = tmp_path / "run"
    config = tiny_config(out, {"name": "qa", "head": head},
                         {"train": {"en": entry(qa / train_file, 16)},
                          "eval": {lang: entry(qa / path, 8) for lang, path in eval_files.items()}})
    assert run_finetune(tmp_path, config) == 0
    report = read_report(out)
    check_report(report, list(eval_files), {lang: 8 for lang in eval_files})
    # exact_match/f1 under the publishers' scoring, and both normalisations by name
    assert report["metrics"] == ["exact_match", "f1", "exact_match_squad", "f1_squad", "exact_match_mlqa",
                                 "f1_mlqa"] and report["head"] == head
    for scores in report["languages"].values():
        assert scores["exact_match"] <= scores["f1"]
        assert (scores["exact_match"], scores["f1"]) == (scores["exact_match_squad"], scores["f1_squad"])
    assert "| f1 |" in (out / "eval_report.md").read_text() and "| f1 |" in capsys.readouterr().out
    checkpoint = latest_complete_checkpoint(out / CHECKPOINTS)
    assert checkpoint.name == "step-00000003"
    state = json.loads((checkpoint / "trainer_state.json").read_text())
    assert state["run"]["task"]["head"] == head and state["run"]["task"]["name"] == "qa"
    assert [r["step"] for r in read_records(out) if r["split"] == "train"] == [1, 2, 3]
    if head == "que":
        assert "[QUE]" in json.loads((checkpoint / "tokenizer.json").read_text())["added_tokens"][-1]["content"]


# ---- NER --------------------------------------------------------------------------------------------------

def test_ner_tagging_iob1_source_latin1_target(data_dir, tmp_path):
    """CoNLL-2003 English (IOB1) trains a BIOES tagger; CoNLL-2002 Spanish (Latin-1) is read and scored."""
    ner = data_dir / "ner"
    out = tmp_path / "run"
    config = tiny_config(out, {"name": "ner", "head": "tagging", "scheme": "BIOES"},
                         {"train": {"en": entry(ner / "conll2003" / "eng.train", 48)},
                          "eval": {"en": entry(ner / "conll2003" / "eng.testa", 24),
                                   "es": entry(ner / "conll2002" / "esp.testa", 24, encoding="latin-1")}},
                         evaluation={"every": 2}, train={"eval_every": 3})
    assert run_finetune(tmp_path, config) == 0
    report = read_report(out)
    check_report(report, ["en", "es"], {"en": 24, "es": 24})
    assert report["metrics"] == ["precision", "recall", "f1"]
    task = json.loads((out / "task.json").read_text())
    assert task["entity_types"] == ["LOC", "MISC", "ORG", "PER"]
    assert task["labels"][:5] == ["O", "B-LOC", "I-LOC", "E-LOC", "S-LOC"] and len(task["labels"]) == 17
    # Task metrics every 2 steps through the periodic-evaluation hook, and the final ones, in the metrics log.
    evaluations = [r for r in read_records(out) if r["split"] == "task_eval"]
    assert [r["step"] for r in evaluations] == [2, 3]
    assert evaluations[-1]["es_f1"] == report["languages"]["es"]["f1"]
    # The loop's own evaluation (the loss on the evaluation data) at train.eval_every.
    losses = [r for r in read_records(out) if r["split"] == "eval"]
    assert [r["step"] for r in losses] == [3] and losses[0]["loss"] > 0


def test_ner_as_mrc_translate_train_on_tagged_shards(data_dir, tmp_path):
    """Translate-train: only the translated, labelled target data (a `tagged` dataset) trains the extractor in
    MRC form; the German Europarl test set scores it."""
    ner = data_dir / "ner"
    tagged = write_tagged_dataset(tmp_path / "projected-de", ner / "de-europarl.test.conll02", "de", limit=10)
    out = tmp_path / "run"
    config = tiny_config(out, {"name": "ner", "head": "mrc", "max_span_length": 8},
                         {"train": {"en": entry(ner / "en-europarl.test.conll02", 10)},
                          "translated": {"de": str(tagged)},
                          "eval": {"de": entry(ner / "de-europarl.test.conll02", 6, format="conll")},
                          "max_length": 96},
                         adaptation={"name": "translate-train"}, train={"total_steps": 2})
    assert run_finetune(tmp_path, config) == 0
    report = read_report(out)
    check_report(report, ["de"], {"de": 6})
    assert report["adaptation"] == "translate-train"
    state = json.loads((latest_complete_checkpoint(out / CHECKPOINTS) / "trainer_state.json").read_text())
    # The batches came from the 10 tagged sentences x 4 entity-type queries: the data position says so.
    assert state["run"]["task"]["head"] == "mrc"
    assert torch.load(latest_complete_checkpoint(out / CHECKPOINTS) / "rank-00000.pt",
                      weights_only=False)["data"]["items"] == 40


def mtl_ws_config(data_dir, out, iterations: int = 2) -> dict:
    ner = data_dir / "ner"
    return tiny_config(out, {"name": "ner", "head": "tagging"},
                       {"train": {"en": entry(ner / "en-europarl.test.conll02", 16)},
                        "translated": {"de": entry(ner / "de-europarl.test.conll02", 16)},
                        "eval": {"en": entry(ner / "en-europarl.test.conll02", 8),
                                 "de": entry(ner / "de-europarl.test.conll02", 8)}},
                       adaptation={"name": "mtl-ws", "mtl_ws": {"iterations": iterations, "inner_steps": 2,
                                                               "step_size": 1.0, "checkpoint_every": 1}},
                       train={"total_steps": 2})


def test_mtl_ws_warm_up_then_zero_shot_adaptation(data_dir, tmp_path):
    """MTL-WS's warm-up iterations are steps of the one loop (their own metrics log and checkpoints under
    warm-start/), then the zero-shot adaptation on the source data runs from the warmed-up model."""
    out = tmp_path / "run"
    assert run_finetune(tmp_path, mtl_ws_config(data_dir, out)) == 0
    warmup = read_records(out / "warm-start")
    assert [r["step"] for r in warmup] == [1, 2] and {r["split"] for r in warmup} == {"train"}
    assert all(r["update_norm"] > 0 and r["loss_de"] > 0 and r["loss"] == r["loss_de"] for r in warmup)
    assert all(r["tokens"] > 2 * 8 for r in warmup)  # K = 2 inner batches of 8 sentences each
    assert latest_complete_checkpoint(out / "warm-start" / CHECKPOINTS).name == "step-00000002"
    assert [r["step"] for r in read_records(out) if r["split"] == "train"] == [1, 2]
    check_report(read_report(out), ["en", "de"], {"en": 8, "de": 8})


def test_mtl_ws_warm_start_resumes_exactly(data_dir, tmp_path, monkeypatch):
    """A run interrupted in the middle of the warm start continues it from its last checkpoint and ends where
    the uninterrupted run ends: the same warm-up and adaptation losses and the same report."""
    from trainer.adaptation.warm_start import WarmStartRule

    whole = tmp_path / "whole"
    assert run_finetune(tmp_path, mtl_ws_config(data_dir, whole, iterations=3), name="whole.yaml") == 0
    step = WarmStartRule.step

    def interrupted(self, model, module, batch, number, autocast):
        if number == 3:
            raise KeyboardInterrupt
        return step(self, model, module, batch, number, autocast)

    cut = tmp_path / "cut"
    monkeypatch.setattr(WarmStartRule, "step", interrupted)
    assert run_finetune(tmp_path, mtl_ws_config(data_dir, cut, iterations=3), name="cut.yaml") == 130
    assert latest_complete_checkpoint(cut / "warm-start" / CHECKPOINTS).name == "step-00000002"
    made = []

    def counted(self, model, module, batch, number, autocast):
        made.append(number)
        return step(self, model, module, batch, number, autocast)

    monkeypatch.setattr(WarmStartRule, "step", counted)
    assert run_finetune(tmp_path, mtl_ws_config(data_dir, cut, iterations=3), name="cut.yaml") == 0
    assert made == [3]  # the resumed run made only the iteration the interrupted one had not saved
    for directory in ("warm-start", "."):
        assert [r["loss"] for r in read_records(cut / directory) if r["split"] == "train"] == \
            [r["loss"] for r in read_records(whole / directory) if r["split"] == "train"]
    assert read_report(cut)["languages"] == read_report(whole)["languages"]


def test_gem_with_mlm_and_xsr_memories_reports_retention(data_dir, tmp_path):
    """GEM w/ MLM and XSR from a pretrained (tiny, saved) masked LM; paper 003's Table 1 measurement - MLM
    perplexity and XSR P@1/5/10 on the probe slices after the memories' - before and after fine-tuning, the
    "before" figures being those of the probe functions on the initial model."""
    from transformers import BertForMaskedLM

    from trainer.data.tokenizer_training import train_wordpiece
    from trainer.objectives.mlm import MaskedLanguageModel, perplexity_by_language
    from trainer.objectives.xsr import xsr_precision

    ner, parallel = data_dir / "ner", data_dir / "parallel"
    english, german = parallel / "tatoeba.deu-eng.eng", parallel / "tatoeba.deu-eng.deu"
    lines = {path: [line.strip() for line in path.read_text().splitlines() if line.strip()]
             for path in (english, german)}
    europarl = [" ".join(s.tokens) for s in read_conll(ner / "en-europarl.test.conll02", tag_scheme=None)][:32]
    tokenizer = train_wordpiece(europarl + lines[english][:80] + lines[german][:80], 1200)
    backbone = save_tiny_mlm_backbone(tokenizer, tmp_path / "backbone", seed=5)
    out = tmp_path / "run"
    config = tiny_config(out, {"name": "ner", "head": "tagging", "scheme": "BIO"},
                         {"train": {"en": entry(ner / "en-europarl.test.conll02", 24)},
                          "eval": {"de": entry(ner / "de-europarl.test.conll02", 8)}},
                         model={"name_or_path": str(backbone), "from_scratch": None},
                         tokenizer={"train_vocab_size": None},
                         constraint={"name": "gem", "memories": {
                             "mlm": {"en": str(english)}, "xsr": {"de_en": [str(german), str(english)]},
                             "size": 16, "batch_size": 8, "max_length": 32}},
                         probes={"size": 24, "batch_size": 16})
    assert run_finetune(tmp_path, config) == 0
    train = [r for r in read_records(out) if r["split"] == "train"]
    # Each step reports the previous step's memory losses and <g~, g_k> after the projection: never negative
    # beyond rounding.
    later = train[1:]
    assert later and all("loss_memory_mlm_en" in r and "loss_memory_xsr_de_en" in r for r in later)
    for record in later:
        for key in ("loss_gem_dot_mlm_en", "loss_gem_dot_xsr_de_en"):
            assert record[key] >= -1e-4, (key, record[key])
    report = read_report(out)
    check_report(report, ["de"], {"de": 8})
    assert report["constraint"] == "gem"

    retention = report["retention"]
    # The probes are the 24 sentences (pairs) after the 16 the memories hold.
    memory_text = set(lines[english][:16]) | set(lines[german][:16])
    probe_sentences = [(f"probe-en-{n}", lines[english][n]) for n in range(16, 40)
                       if lines[english][n] not in memory_text]
    probe_pairs = [(lines[german][n], lines[english][n]) for n in range(16, 40)
                   if lines[german][n] not in memory_text and lines[english][n] not in memory_text]
    assert [(p["kind"], p["name"], p["skip"], p["items"]) for p in retention["probes"]] == [
        ("mlm", "en", 16, len(probe_sentences)), ("xsr", "de_en", 16, len(probe_pairs))]
    initial = BertForMaskedLM.from_pretrained(backbone)
    expected = perplexity_by_language(MaskedLanguageModel.from_masked_lm(initial), tokenizer,
                                      {"en": probe_sentences}, seed=0, batch_size=16, max_length=128)["en"]
    before, after = retention["mlm"]["en"]["before"], retention["mlm"]["en"]["after"]
    assert before["perplexity"] == pytest.approx(expected.perplexity, rel=1e-6)
    assert before["masked_tokens"] == after["masked_tokens"] == expected.masked_tokens > 0  # the same masks
    assert after["perplexity"] != pytest.approx(before["perplexity"], rel=1e-6)  # the encoder was fine-tuned
    precision = xsr_precision(initial.base_model, tokenizer, [s for s, _ in probe_pairs], [t for _, t in probe_pairs],
                              batch_size=16, max_length=128)
    xsr = retention["xsr"]["de_en"]
    assert xsr["before"] == pytest.approx({k: 100 * v for k, v in precision.items()}, rel=1e-6)
    for figures in (xsr["before"], xsr["after"]):
        assert list(figures) == ["p@1", "p@5", "p@10"]
        assert 0 <= figures["p@1"] <= figures["p@5"] <= figures["p@10"] <= 100
    assert json.loads((out / "retention.json").read_text()) == retention
    markdown = (out / "eval_report.md").read_text()
    assert f"| en | {before['perplexity']:.1f} | {after['perplexity']:.1f} | - |" in markdown
    assert f"| de_en | - | - | {xsr['before']['p@1']:.1f} | {xsr['after']['p@1']:.1f} |" in markdown


# ---- pairs, few-shot, resume ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pair_files(data_dir, tmp_path_factory):
    directory = tmp_path_factory.mktemp("pairs")
    parallel = data_dir / "parallel"
    english = [line.strip() for line in (parallel / "tatoeba.deu-eng.eng").read_text().splitlines() if line.strip()]
    german = [line.strip() for line in (parallel / "tatoeba.deu-eng.deu").read_text().splitlines() if line.strip()]
    return {"train": write_pair_tsv(directory / "train.en.tsv", english, 40),
            "en": write_pair_tsv(directory / "dev.en.tsv", english, 16, offset=100),
            "de": write_pair_tsv(directory / "dev.de.tsv", german, 16, offset=100)}


def pair_config(out, pair_files, head="classifier", **sections):
    return tiny_config(out, {"name": "pair", "head": head, "pair_task": "pawsx"},
                       {"train": {"en": str(pair_files["train"])},
                        "eval": {"en": str(pair_files["en"]), "de": str(pair_files["de"])}, "max_length": 64},
                       **sections)


@pytest.mark.parametrize("head", ["classifier", "mrc"])
def test_pair_classification_heads(pair_files, tmp_path, head):
    out = tmp_path / "run"
    assert run_finetune(tmp_path, pair_config(out, pair_files, head)) == 0
    report = read_report(out)
    check_report(report, ["en", "de"], {"en": 16, "de": 16})
    assert report["metrics"] == ["accuracy"]
    assert json.loads((out / "task.json").read_text())["labels"] == ["0", "1"]


def test_few_shot_sweep_and_runs_reproducible_from_their_seeds(pair_files, tmp_path, capsys):
    out = tmp_path / "sweep"
    config = pair_config(out, pair_files, few_shot={"sizes": [8, 16], "seeds": [0, 1], "steps": 2})
    assert run_finetune(tmp_path, config, "--few-shot-sweep") == 0
    summary = json.loads((out / "few_shot_summary.json").read_text())
    assert [(r["size"], r["seed"]) for r in summary["runs"]] == [(8, 0), (8, 1), (16, 0), (16, 1)]
    accuracies = [r["metrics"]["accuracy"] for r in summary["runs"][:2]]
    assert summary["summary"]["8"]["accuracy"]["mean"] == pytest.approx(sum(accuracies) / 2)
    assert summary["summary"]["8"]["accuracy"]["runs"] == 2
    assert "± " in capsys.readouterr().out

    def ids(directory):
        return json.loads((directory / "few_shot_ids.json").read_text())["ids"]

    run_dir = out / "few-shot" / "size-8"
    assert len(ids(run_dir / "seed-0")) == 8 and ids(run_dir / "seed-0") != ids(run_dir / "seed-1")
    # For one seed the smaller sample is inside the larger one (keyed sampling).
    assert set(ids(run_dir / "seed-0")) <= set(ids(out / "few-shot" / "size-16" / "seed-0"))
    # The same size and seed again, as a plain run: the same examples and the very same final metrics.
    again = tmp_path / "again"
    config = pair_config(again, pair_files, few_shot={"size": 8, "seed": 0}, train={"total_steps": 2})
    assert run_finetune(tmp_path, config, name="again.yaml") == 0
    assert ids(again) == ids(run_dir / "seed-0")
    assert read_report(again)["languages"] == read_report(run_dir / "seed-0")["languages"]


def test_resumed_run_continues_identically(data_dir, tmp_path):
    ner = data_dir / "ner"
    out = tmp_path / "run"
    # 20 sentences in batches of 8: 3 batches per epoch, so the resume point (step 2) is mid-epoch and the
    # run crosses an epoch boundary after it.
    config = tiny_config(out, {"name": "ner", "head": "tagging"},
                         {"train": {"en": entry(ner / "en-europarl.test.conll02", 20)},
                          "eval": {"de": entry(ner / "de-europarl.test.conll02", 8)}},
                         train={"total_steps": 4, "checkpoint_every": 2, "keep_last": 0})
    assert run_finetune(tmp_path, config) == 0
    final = out / CHECKPOINTS / "step-00000004"
    expected = {name: load_file(str(final / name)) for name in ("model.safetensors", "heads.safetensors")}
    expected_losses = [r["loss"] for r in read_records(out) if r["split"] == "train"]
    expected_report = read_report(out)["languages"]
    shutil.rmtree(final)  # as if the run had been killed after step 2's checkpoint

    assert run_finetune(tmp_path, config) == 0
    for name, tensors in expected.items():
        resumed = load_file(str(final / name))
        assert resumed.keys() == tensors.keys()
        for key in tensors:
            assert torch.equal(resumed[key], tensors[key]), (name, key)
    assert [r["loss"] for r in read_records(out) if r["split"] == "train"] == expected_losses
    assert read_report(out)["languages"] == expected_report


# ---- backbones from pretraining checkpoints ----------------------------------------------------------------

def test_heads_load_from_mpmr_and_clism_checkpoints(data_dir, tmp_path):
    """An mPMR checkpoint's extractor is ExtractorQA's head, CLISM's W_s/W_e QueQA's: after one step of a
    vanishing learning rate (lr 0 is refused) the fine-tuned checkpoint holds them as loaded."""
    from transformers import BertConfig

    from trainer.data.clism_features import add_que_token
    from trainer.models.span_extractor import SpanExtractor
    from trainer.objectives.clism_model import ClismPretrainer
    from trainer_fixtures import training_texts, wordpiece_tokenizer, xquad_rows

    tokenizer = wordpiece_tokenizer(training_texts(xquad_rows(data_dir, "en", limit=16))
                                    + training_texts(xquad_rows(data_dir, "de", limit=8)), vocab_size=1500)
    qa = data_dir / "qa" / "xquad"
    for head, build in (("extractor", lambda config: SpanExtractor.from_encoder_config(config)),
                        ("que", lambda config: ClismPretrainer.from_encoder_config(config, tokenizer))):
        if head == "que":
            add_que_token(tokenizer)
        torch.manual_seed(7)
        config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                            intermediate_size=64, max_position_embeddings=192, pad_token_id=tokenizer.pad_token_id)
        pretrained = build(config)
        checkpoint = save_checkpoint(tmp_path / f"pretrain-{head}", 10, pretrained, tokenizer=tokenizer)
        out = tmp_path / f"finetune-{head}"
        run_config = tiny_config(out, {"name": "qa", "head": head},
                                 {"train": {"en": entry(qa / "xquad.en.json", 8)},
                                  "eval": {"de": entry(qa / "xquad.de.json", 4)}},
                                 model={"name_or_path": str(checkpoint), "from_scratch": None},
                                 tokenizer={"train_vocab_size": None}, train={"lr": 1e-12, "total_steps": 1})
        assert run_finetune(tmp_path, run_config, name=f"{head}.yaml") == 0
        saved = load_file(str(checkpoint / "heads.safetensors"))
        tuned = load_file(str(latest_complete_checkpoint(out / CHECKPOINTS) / "heads.safetensors"))
        shared = [key for key in saved if key in tuned]
        expected = {"extractor": {"projection.dense_in.weight", "projection.dense_out.weight"},
                    "que": {"start_projection.weight", "end_projection.weight"}}[head]
        assert expected <= set(shared)
        for key in shared:  # Adam moves each weight by about lr: 1e-12, where a fresh head differs by ~1e-2
            assert torch.allclose(saved[key], tuned[key], rtol=0, atol=1e-9), key


# ---- ABSA -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("head", ["mrc", "tagging", "pair"])
def test_absa_heads_train_evaluate_and_predict(data_dir, tmp_path, head):
    """ABSA as a registered task, in mPMR's MRC form, as BIOES tagging (paper 002) and as (sentence, aspect)
    pairs, on SemEval-layout files of real Europarl sentences (``write_semeval_from_conll``): trained, scored
    per language, and predicted."""
    from trainer.predict import main as predict_main

    ner = data_dir / "ner"
    train = write_semeval_from_conll(tmp_path / "train.xml", ner / "en-europarl.test.conll02", 24)
    dev = write_semeval_from_conll(tmp_path / "dev.xml", ner / "de-europarl.test.conll02", 8, offset=100)
    out = tmp_path / "run"
    config = tiny_config(out, {"name": "absa", "head": head},
                         {"train": {"en": str(train)}, "eval": {"en": str(train), "de": str(dev)}, "max_length": 96})
    assert run_finetune(tmp_path, config) == 0
    report = read_report(out)
    aspects = {"en": train.read_text().count("<aspectTerm "), "de": dev.read_text().count("<aspectTerm ")}
    check_report(report, ["en", "de"], aspects if head == "pair" else {"en": 24, "de": 8})
    assert report["task"] == "absa"
    assert report["metrics"] == (["accuracy"] if head == "pair" else ["precision", "recall", "f1"])
    task = json.loads((out / "task.json").read_text())
    if head == "tagging":
        assert task["labels"] == ["O"] + [f"{p}-{t}" for t in ("NEG", "NEU", "POS") for p in "BIES"]
    predictions = tmp_path / "predictions.jsonl"
    assert predict_main(["--model", str(out), "--input", str(dev), "--output", str(predictions)]) == 0
    rows = [json.loads(line) for line in predictions.read_text().splitlines()]
    assert len(rows) == (aspects["de"] if head == "pair" else 8)
    key = {"mrc": "aspects", "tagging": "tags", "pair": "label"}[head]
    assert all(key in row for row in rows)


# ---- configuration ----------------------------------------------------------------------------------------

def test_shipped_configs_load():
    for path in sorted((REPO / "configs").glob("*finetune*.yaml")):
        config = load_config(path, cls=FinetuneConfig)
        assert config.task.head is not None, path
    qa = load_config(REPO / "configs" / "finetune_qa.yaml", cls=FinetuneConfig)
    assert (qa.data.max_length, qa.data.doc_stride, qa.data.max_query_length) == (384, 128, 64)


def test_gem_config_runs_with_its_paper_settings(data_dir, tmp_path):
    """configs/finetune_ner_gem.yaml as shipped (paper 003: GEM w/ MLM and XSR, lr 1e-5, batch 16, selection by
    the average dev F1), with only the model made tiny, the data cut and the paths pointed at this checkout's
    data: the run projects its gradients, measures retention and reports the selected step."""
    ner, parallel = data_dir / "ner", data_dir / "parallel"
    config = load_config(REPO / "configs" / "finetune_ner_gem.yaml", cls=FinetuneConfig)
    assert (config.train.lr, config.data.batch_size, config.constraint.memories.batch_size) == (1e-5, 16, 16)
    assert config.constraint.name == "gem" and config.evaluation.select == "primary"
    tiny = "{model_type: bert, hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 2, " \
           "intermediate_size: 64, max_position_embeddings: 192}"
    spa, eng = parallel / "tatoeba.spa-eng.spa", parallel / "tatoeba.spa-eng.eng"
    deu = parallel / "tatoeba.deu-eng.deu"
    overrides = [f"output_dir={tmp_path / 'run'}", "model.name_or_path=null", f"model.from_scratch={tiny}",
                 "tokenizer.train_vocab_size=1200", "data.limit=16", "data.batch_size=8", "data.max_length=64",
                 "train.total_steps=2", "train.lr=2e-3", "train.log_every=1", "train.precision=fp32",
                 "evaluation.every=1", "constraint.memories.size=16", "constraint.memories.batch_size=8",
                 "probes.size=16", f"data.train.en={ner / 'conll2003' / 'eng.train'}",
                 f"data.eval={{es: {{path: {ner / 'conll2002' / 'esp.testa'}, encoding: latin-1}}, "
                 f"de: {ner / 'de-europarl.test.conll02'}}}",
                 f"constraint.memories.mlm={{en: {eng}, es: {spa}, de: {deu}}}",
                 f"constraint.memories.xsr={{es_en: [{spa}, {eng}], de_en: [{parallel / 'tatoeba.deu-eng.deu'}, "
                 f"{parallel / 'tatoeba.deu-eng.eng'}]}}"]
    path = tmp_path / "gem.yaml"
    shutil.copy(REPO / "configs" / "finetune_ner_gem.yaml", path)
    from trainer.finetune import main as finetune_main
    assert finetune_main(["--config", str(path), *overrides]) == 0
    out = tmp_path / "run"
    train = [r for r in read_records(out) if r["split"] == "train"]
    assert "loss_gem_dot_xsr_es_en" in train[-1] and "loss_memory_mlm_de" in train[-1]
    report = read_report(out)
    assert report["constraint"] == "gem" and report["selection"]["step"] in (1, 2)
    assert set(report["retention"]["mlm"]) == {"en", "es", "de"}
    assert set(report["retention"]["xsr"]) == {"es_en", "de_en"}


@pytest.mark.parametrize("override,message", [
    ("task.head=tagging", "task.head 'tagging' is not a head of qa"),
    ("adaptation.name=bilingual", "adaptation bilingual needs adaptation.target"),
    ("constraint.name=gem", "needs constraint.memories.mlm"),
    ("strategy.name=mtl", "'strategy' is gone: strategy.name and strategy.target are adaptation.name"),
    ("model.filter.local_layers=1", "model.filter needs both"),
    ("data.train.en=/nonexistent/file.json", "/nonexistent/file.json not found"),
    ("self_teaching.write=teacher", "self_teaching needs data.translated"),
    ("probes.xsr.de=only-one-file", "probes.xsr.de: expected [source file, target file]"),
])
def test_bad_configs_end_with_one_line(data_dir, tmp_path, capsys, override, message):
    config = tiny_config(tmp_path / "run", {"name": "qa"},
                         {"train": {"en": str(data_dir / "qa" / "xquad" / "xquad.en.json")}})
    assert run_finetune(tmp_path, config, override) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], err


def test_filter_on_europarl_pairs_and_its_evaluation(data_dir, tmp_path, capsys):
    """FILTER (m = 1 local, k = 1 fusion layer): German Europarl sentences (translated data, their own labels)
    read with the English sentences they translate (paired by position); the test text is read with its
    translation too, by the fine-tuning run and by trainer.evaluate alike."""
    from trainer.evaluate import main as evaluate_main

    ner = data_dir / "ner"
    english, german = ner / "en-europarl.test.conll02", ner / "de-europarl.test.conll02"
    out = tmp_path / "run"
    config = tiny_config(out, {"name": "ner", "head": "tagging", "scheme": "BIO"},
                         {"train": {"en": entry(english, 16)}, "translated": {"de": entry(german, 16)},
                          "eval": {"de": entry(german, 8)}, "eval_translations": {"de": entry(english, 8)}},
                         model={"filter": {"local_layers": 1, "fusion_layers": 1, "pair_by": "index"}},
                         adaptation={"name": "translate-train"})
    assert run_finetune(tmp_path, config) == 0
    train = [r for r in read_records(out) if r["split"] == "train"]
    assert all(r["loss"] == pytest.approx(r["loss_source"] + r["loss_target"], rel=1e-5) for r in train)
    report = read_report(out)
    check_report(report, ["de"], {"de": 8})
    capsys.readouterr()
    data = ["--data", f"de={german}", "--limit", "8"]
    assert evaluate_main(["--model", str(out), *data]) == 1
    assert "needs the translations" in capsys.readouterr().err
    json_out = tmp_path / "filter.json"
    assert evaluate_main(["--model", str(out), *data, "--translations", f"de={english}",
                          "--json-out", str(json_out)]) == 0
    assert json.loads(json_out.read_text())["languages"] == report["languages"]


def test_filter_pair_classifier_pairs_by_id(data_dir, tmp_path):
    """FILTER for sentence pairs: German pairs matched with the English pairs of the same id (de-3 with en-3)."""
    files = tatoeba_pair_files(data_dir, tmp_path)
    out = tmp_path / "run"
    config = tiny_config(out, {"name": "pair", "head": "classifier"},
                         {"train": {"en": str(files["en_train"])}, "translated": {"de": str(files["de_train"])},
                          "eval": {"de": str(files["de_dev"])}, "eval_translations": {"de": str(files["en_dev"])},
                          "max_length": 64},
                         model={"filter": {"local_layers": 0, "fusion_layers": 2, "pair_by": "id"}})
    assert run_finetune(tmp_path, config) == 0
    train = [r for r in read_records(out) if r["split"] == "train"]
    assert all("loss_source" in r and "loss_target" in r for r in train)
    check_report(read_report(out), ["de"], {"de": 8})
