"""bench/pretrain_effect.py's whole path, small: wiki_mrc rows from the embedded English sample dump (stochastic
and centre answer positions) -> WAE pretraining of a tiny BERT for each -> the few-shot sweep of the three arms
on TyDi QA GoldP English -> the position probe on the dev questions. The tiny model stands in for MiniLM (whose
steps take seconds on these cores); its tokenizer is learnt from the TyDi text on the fly. What is checked are
the bench's own promises: the centre rows put their answers in the middle, every arm x size x seed is in the
table, the three arms train on the same sample of a seed, the probe's buckets partition the dev questions and
add up to the sweep's own score."""
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # bench/ is a folder of scripts, not an installed package

from bench import pretrain_effect as bench  # noqa: E402
from trainer_fixtures import wordpiece_tokenizer  # noqa: E402
from trainer.data.squad import read_squad_json  # noqa: E402

SIZES, SEEDS, DEV = (4, 8), (0, 1, 2), 12


def tiny_base_model(directory: Path, tydi: Path) -> Path:
    """A randomly initialised 2-layer BERT and a WordPiece tokenizer learnt from TyDi QA text, saved as a model
    folder (what the bench's --model takes)."""
    from transformers import BertConfig, BertModel
    examples = read_squad_json(tydi / "english_tydiqa_train.json")[:300]
    tokenizer = wordpiece_tokenizer([t for e in examples for t in (e.question, e.context)], vocab_size=2000)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=256, pad_token_id=tokenizer.pad_token_id)
    BertModel(config, add_pooling_layer=False).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def figures(data_dir, tmp_path_factory):
    import torch
    threads = torch.get_num_threads()
    base = tmp_path_factory.mktemp("tiny-base")
    tiny_base_model(base, data_dir / "qa" / "tydiqa-goldp")
    budget = bench.Budget(pretrain_steps=3, finetune_steps=2, sizes=SIZES, seeds=SEEDS, max_dev=DEV, threads=1,
                          pretrain_overrides=("train.lr=1e-3",), finetune_overrides=("train.lr=1e-3",))
    out = tmp_path_factory.mktemp("bench-out")
    try:
        yield bench.run(budget, out, model=base, data=str(data_dir), dumps=[bench.SAMPLE_DUMP]), out, budget, base
    finally:
        torch.set_num_threads(threads)


def test_rows_differ_only_in_where_the_answer_sits(figures):
    figures = figures[0]
    stochastic, centre = figures["rows"]["stochastic"], figures["rows"]["centre"]
    assert (stochastic["answer_position"], centre["answer_position"]) == ("stochastic", "centre")
    assert stochastic["min_mentions"] == centre["min_mentions"] == 1
    assert stochastic["rows"] > 50 and stochastic["answerable"] > 10
    assert (stochastic["rows"], stochastic["answerable"], stochastic["entities"]) == \
        (centre["rows"], centre["answerable"], centre["entities"])

    # Centre contexts hold at most C/2 words on each side of the anchor (fewer where an article's bound clips
    # one); stochastic ones put up to C words on one side.
    assert centre["single_answer_side_over_half"] == 0
    assert stochastic["single_answer_side_over_half"] > 5
    assert min(stochastic["single_answer_thirds"].values()) > 0


def test_pretraining_arms_start_from_their_own_rows(figures):
    figures = figures[0]
    assert set(figures["pretraining"]) == {"wae-stochastic", "wae-centre"}
    for name, arm in figures["pretraining"].items():
        assert arm["steps"] == 3 and Path(arm["checkpoint"]).is_dir()
        assert f"pretrain-{bench.ARMS[name].answer_position}" in arm["checkpoint"]
        assert figures["finetuning"][name]["backbone"] == arm["checkpoint"]
    assert figures["finetuning"]["base"]["backbone"] == figures["model"]


def test_every_arm_size_and_seed_is_in_the_table(figures):
    figures, out = figures[:2]
    assert list(figures["finetuning"]) == list(bench.ARMS)
    for name, arm in figures["finetuning"].items():
        assert {(r["size"], r["seed"]) for r in arm["runs"]} == {(s, k) for s in SIZES for k in SEEDS}
        assert len(arm["runs"]) == len(SIZES) * len(SEEDS)
        assert sorted(arm["summary"], key=int) == [str(s) for s in SIZES]
        assert all(arm["summary"][str(s)]["f1"]["runs"] == len(SEEDS) for s in SIZES)
        assert all(r["steps"] == 2 and r["train_examples"] == r["size"] for r in arm["runs"])
    # The project's keyed sampling: one seed draws the same questions for every arm, another seed others.
    digests = {(r["size"], r["seed"], name): r["sample_digest"] for name, arm in figures["finetuning"].items()
               for r in arm["runs"]}
    for size in SIZES:
        for seed in SEEDS:
            assert len({digests[(size, seed, name)] for name in bench.ARMS}) == 1
        assert len({digests[(size, seed, "base")] for seed in SEEDS}) == len(SEEDS)
    saved = json.loads((out / "pretrain_effect.json").read_text(encoding="utf-8"))
    assert saved["dev"] == figures["dev"]
    table = (out / "pretrain_effect.md").read_text(encoding="utf-8")
    assert "## Position probe" in table and all(arm.label in table for arm in bench.ARMS.values())


def test_probe_buckets_partition_the_dev_questions_and_agree_with_the_sweep(figures):
    figures = figures[0]
    counts = figures["dev"]["buckets"]
    assert figures["dev"]["questions"] == DEV == sum(counts.values())
    for arm in figures["finetuning"].values():
        for run in arm["runs"]:
            probe = run["probe"]
            assert {t: probe["buckets"][t]["count"] for t in bench.THIRDS} == counts
            weighted = sum(probe["buckets"][t]["f1"] * counts[t] for t in bench.THIRDS) / DEV
            assert weighted == pytest.approx(probe["overall"]["f1"], abs=1e-9)
            # The probe scores the predictions.jsonl of the pass that made the sweep's report: they must agree.
            assert probe["overall"]["f1"] == pytest.approx(run["sweep"]["f1"], abs=1e-9)
            assert probe["overall"]["exact_match"] == pytest.approx(run["sweep"]["exact_match"], abs=1e-9)


def test_dev_buckets_follow_the_first_answer():
    assert [bench.answer_third("x" * 30, start) for start in (0, 9, 10, 19, 20, 29)] == \
        ["first", "first", "middle", "middle", "last", "last"]


def test_reuse_takes_the_rows_and_checkpoints_and_the_sweeps_come_out_the_same(figures, data_dir):
    """--reuse: a second run on the same folder makes no rows and no pretraining, and (same seeds, same
    samples, one thread) its few-shot figures are the first run's, to the last digit."""
    import torch
    first, out, budget, base = figures
    threads = torch.get_num_threads()
    try:
        again = bench.run(budget, out, model=base, data=str(data_dir), dumps=[bench.SAMPLE_DUMP], reuse=True)
    finally:
        torch.set_num_threads(threads)
    assert again["reused"] == ["pretrain-wae-centre", "pretrain-wae-stochastic", "rows-centre", "rows-stochastic"]
    assert all(again["rows"][k]["rows"] == first["rows"][k]["rows"] for k in first["rows"])
    for name, arm in first["pretraining"].items():
        assert again["pretraining"][name]["checkpoint"] == arm["checkpoint"]
        assert again["pretraining"][name]["last_loss"] == arm["last_loss"] and again["pretraining"][name]["wall"] is None
    for name, arm in first["finetuning"].items():
        assert again["finetuning"][name]["summary"] == arm["summary"]
        assert [r["probe"]["buckets"] for r in again["finetuning"][name]["runs"]] == \
            [r["probe"]["buckets"] for r in arm["runs"]]
    assert "reused" in (out / "pretrain_effect.md").read_text(encoding="utf-8")
