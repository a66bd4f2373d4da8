"""Smoke runs of the cross-lingual claim benches (bench/xl_mpmr.py, xl_projection.py, xl_gem.py) in their --quick
mode on a tiny BERT (2 layers, hidden 32, a WordPiece vocabulary learnt here from the real data), not on
multilingual-e5-small: each result table must hold every gold language the bench finds in the data folder, with
a spread over the seeds, and the checkpoints it names must exist."""
import json
from pathlib import Path

import pytest
from transformers import BertConfig, BertModel

from bench import _xl
from trainer_fixtures import wordpiece_tokenizer

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_torch_thread")]
SAMPLE = Path(__file__).resolve().parent.parent / "pipelines" / "samples" / "enwiki-sample.xml"


@pytest.fixture(scope="module")
def tiny_model(data_dir, tmp_path_factory):
    texts = []
    for gold in [*_xl.xquad_files(data_dir).values(), *_xl.tydi_dev_files(data_dir).values()]:
        data = json.loads(gold.path.read_text(encoding="utf-8"))["data"]
        texts += [p["context"] for a in data[:3] for p in a["paragraphs"][:2]]
    for gold in [*_xl.europarl_files(data_dir).values(), *_xl.conll2002_files(data_dir).values()]:
        texts += gold.path.read_text(encoding=gold.encoding).splitlines()[:400]
    tokenizer = wordpiece_tokenizer(texts, vocab_size=1500)
    folder = tmp_path_factory.mktemp("tiny-bert")
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=512)
    BertModel(config, add_pooling_layer=False).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _languages(summary: dict) -> set[str]:
    return {column for arm in summary.values() for column in arm}


def test_xl_mpmr_quick_scores_every_qa_dev_file(tiny_model, data_dir, tmp_path):
    from bench import xl_mpmr
    budget = xl_mpmr.QUICK._replace(max_length=128, max_dev=3)
    figures = xl_mpmr.run(budget, tmp_path, str(tiny_model), str(data_dir), [SAMPLE])
    expected = {f"tydiqa/{lang}" for lang in _xl.tydi_dev_files(data_dir)} | {
        f"xquad/{lang}" for lang in _xl.xquad_files(data_dir)}
    assert {"tydiqa/ar", "tydiqa/fi", "tydiqa/id", "xquad/de", "xquad/zh"} <= expected
    assert set(figures["summary"]) == {f"{a}/{s}" for a in xl_mpmr.ARMS for s in xl_mpmr.SETTINGS}
    for key, summary in figures["summary"].items():
        assert set(summary) == expected, key
        assert all(stats["f1"]["runs"] == len(budget.seeds) for stats in summary.values())
    table = (tmp_path / "xl_mpmr.md").read_text(encoding="utf-8")
    assert all(column in table for column in expected) and "±" in table
    assert all(Path(r["checkpoint"], "model.safetensors").is_file() for r in figures["runs"])
    assert figures["pretraining"]["wae"]["first_loss"] != figures["pretraining"]["wae-authors"]["first_loss"]
    assert figures["projection"]["total_min"] > 0


def test_xl_gem_quick_scores_every_conll2002_file_and_tatoeba_pair(tiny_model, data_dir, tmp_path):
    from bench import xl_gem
    budget = xl_gem.QUICK._replace(max_eval=5, probe_size=16, memory_size=64, batch_size=4, steps=2)
    figures = xl_gem.run(budget, tmp_path, str(tiny_model), str(data_dir))
    ner = {f"conll2002/{lang}" for lang in _xl.conll2002_files(data_dir)} | {"conll2003/en"}
    assert {"conll2002/es", "conll2002/nl"} <= ner
    pairs = set(_xl.tatoeba_pairs(data_dir))
    xsr = {f"xsr-{when}/{pair}" for when in ("before", "after") for pair in pairs}
    for arm, summary in figures["summary"].items():
        assert set(summary) == ner | xsr, arm
        assert all(stats["runs"] == 2 for metrics in summary.values() for stats in metrics.values())
    # P@1 is a percentage, and the table prints it as one.
    assert all(0 <= stats["p@1"]["mean"] <= 100 for summary in figures["summary"].values()
               for column, stats in summary.items() if column.startswith("xsr"))
    table = (tmp_path / "xl_gem.md").read_text(encoding="utf-8")
    assert not any(float(cell.split(" ± ")[0]) > 100 for line in table.splitlines() if "→" in line
                   for column in line.split("|")[2:-1] for cell in column.split(" → "))
    assert all(column in table for column in ner | pairs) and "→" in table
    assert all(Path(r["checkpoint"], "model.safetensors").is_file() for r in figures["runs"])


def test_xl_projection_quick_scores_every_europarl_target(tiny_model, data_dir, tmp_path):
    from bench import xl_projection
    budget = xl_projection.QUICK._replace(steps=2, batch_size=4)
    figures = xl_projection.run(budget, tmp_path, str(tiny_model), str(data_dir))
    targets = {lang for lang in _xl.europarl_files(data_dir) if lang != "en"}
    assert "de" in targets and set(figures["projections"]) == targets
    # The pipeline's labels are scored against the gold the models never train on: neither empty nor the gold.
    assert all(0 < p["scores"]["f1"] < 100 for p in figures["projections"].values())
    for arm, summary in figures["summary"].items():
        assert set(summary) == {f"europarl/{lang}" for lang in targets}, arm
        assert all(stats["f1"]["runs"] == budget.scored_folds for stats in summary.values())
    runs = figures["runs"]
    # Training never saw a scored sentence: each fold trains on the other folds' 3/4 of the pairs.
    assert all(r["train_sentences"] + r["sentences"] == 799 for r in runs)
    assert all(Path(r["checkpoint"], "model.safetensors").is_file() for r in runs)
    assert set((tmp_path / "xl_projection.md").read_text(encoding="utf-8").split("|")) >= {" europarl/de "}
