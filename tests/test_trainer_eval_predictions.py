"""``evaluation.predictions``: the final evaluation writes every dev example's prediction to
``predictions.jsonl`` from the pass that scored it, so re-scoring the file gives the report's figures. On real
data with tiny from-scratch models: QA (one pass: the scores are decoded from the very predictions written) and
NER (the default two passes of ``Task.score_and_predict_language``)."""
import json
from pathlib import Path

import pytest

from finetune_fixtures import read_records, read_report, run_finetune, tiny_config
from schemas.conll import read_conll
from trainer.data.squad import read_squad_json
from trainer.finetune import PREDICTIONS_FILE
from trainer.tasks.metrics import entity_scores, qa_scores

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def entry(path: Path, limit: int) -> dict:
    return {"path": str(path), "limit": limit}


def read_predictions(output_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (output_dir / PREDICTIONS_FILE).read_text(encoding="utf-8").splitlines()]


def test_qa_predictions_are_what_the_report_scored(data_dir, tmp_path):
    qa = data_dir / "qa" / "xquad"
    out = tmp_path / "run"
    config = tiny_config(out, {"name": "qa", "head": "extractor"},
                         {"train": {"en": entry(qa / "xquad.en.json", 16)},
                          "eval": {"en": entry(qa / "xquad.en.json", 10), "de": entry(qa / "xquad.de.json", 10)}},
                         evaluation={"predictions": True})
    assert run_finetune(tmp_path, config) == 0
    rows = read_predictions(out)
    examples = {lang: read_squad_json(qa / f"xquad.{lang}.json")[:10] for lang in ("en", "de")}
    # Every dev example once, the source language first, each answer the context's text at its offsets.
    assert [(r["lang"], r["id"]) for r in rows] == [(lang, e.id) for lang in ("en", "de") for e in examples[lang]]
    # (XQuAD gives a question the same id in every language.)
    contexts = {(lang, e.id): e.context for lang, group in examples.items() for e in group}
    assert all(contexts[r["lang"], r["id"]][r["start"]:r["end"]] == r["answer"] for r in rows)
    report = read_report(out)
    for lang, group in examples.items():
        predicted = {r["id"]: r["answer"] for r in rows if r["lang"] == lang}
        scores = qa_scores(predicted, {e.id: [a["text"] for a in e.answers] for e in group}, lang)
        assert scores["f1"] == pytest.approx(report["languages"][lang]["f1"], abs=1e-9)
        assert scores["exact_match"] == pytest.approx(report["languages"][lang]["exact_match"], abs=1e-9)
    (final,) = [r for r in read_records(out) if r["split"] == "task_eval"]
    assert final["eval_seconds"] > 0


def test_ner_predictions_are_what_the_report_scored(data_dir, tmp_path):
    ner = data_dir / "ner"
    german = ner / "de-europarl.test.conll02"
    out = tmp_path / "run"
    config = tiny_config(out, {"name": "ner", "head": "tagging", "scheme": "BIO"},
                         {"train": {"en": entry(ner / "en-europarl.test.conll02", 24)},
                          "eval": {"de": entry(german, 12)}},
                         train={"total_steps": 4, "lr": 5e-3}, evaluation={"predictions": True})
    assert run_finetune(tmp_path, config) == 0
    rows = read_predictions(out)
    sentences = list(read_conll(german, tag_scheme="BIO"))[:12]
    assert [row["tokens"] for row in rows] == [list(s.tokens) for s in sentences]
    scores = entity_scores([list(s.tags) for s in sentences], [row["tags"] for row in rows])
    assert scores["f1"] == pytest.approx(read_report(out)["languages"]["de"]["f1"])


def test_predictions_need_the_final_evaluation(data_dir, tmp_path, capsys):
    qa = data_dir / "qa" / "xquad"
    config = tiny_config(tmp_path / "run", {"name": "qa", "head": "start_end"},
                         {"train": {"en": entry(qa / "xquad.en.json", 8)}, "eval": {"en": entry(qa / "xquad.en.json", 4)}},
                         evaluation={"predictions": True, "final": False})
    assert run_finetune(tmp_path, config) == 1
    assert "evaluation.predictions" in capsys.readouterr().err
    assert not (tmp_path / "run" / PREDICTIONS_FILE).exists()
