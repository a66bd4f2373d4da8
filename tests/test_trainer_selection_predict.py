"""Model selection (``evaluation.select``: the best dev step's weights kept in ``<output_dir>/best`` and
reported) and ``python -m trainer.predict`` (a checkpoint and raw text -> JSON lines), on real data with tiny
from-scratch models."""
import json
from pathlib import Path

import pytest

from finetune_fixtures import read_records, read_report, run_finetune, tatoeba_pair_files, tiny_config
from schemas.conll import read_conll
from trainer.evaluate import main as evaluate_main
from trainer.predict import main as predict_main
from trainer.tasks.metrics import entity_scores

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def entry(path: Path, limit: int) -> dict:
    return {"path": str(path), "limit": limit}


def test_model_selection_keeps_the_best_dev_step(data_dir, tmp_path, capsys):
    """Pairs on Tatoeba (English train, English and German dev): dev accuracy every step; the step with the
    best average wins (the first on ties), its weights are in best/, and the final report is theirs."""
    files = tatoeba_pair_files(data_dir, tmp_path)
    out = tmp_path / "run"
    config = tiny_config(out, {"name": "pair", "head": "classifier"},
                         {"train": {"en": str(files["en_train"])},
                          "eval": {"en": str(files["en_dev"]), "de": str(files["de_dev"])}, "max_length": 64},
                         train={"total_steps": 6, "lr": 5e-3}, evaluation={"every": 1, "select": "primary"})
    assert run_finetune(tmp_path, config) == 0
    evaluations = [r for r in read_records(out) if r["split"] == "task_eval" and "best_step" in r]
    assert [r["step"] for r in evaluations] == [1, 2, 3, 4, 5, 6]
    scores = [r["avg_accuracy"] for r in evaluations]
    winner = evaluations[scores.index(max(scores))]["step"]
    selection = json.loads((out / "best" / "selection.json").read_text())
    assert selection["step"] == winner and selection["metric"] == "avg_accuracy"
    assert evaluations[-1]["best_step"] == winner and evaluations[-1]["best_avg_accuracy"] == max(scores)
    report = read_report(out)
    assert report["step"] == winner and report["selection"] == {"metric": "primary", "step": winner, "last_step": 6}
    assert report["average"]["accuracy"] == pytest.approx(max(scores))
    assert f"model selection (primary): step {winner}" in capsys.readouterr().out
    # best/ is a model trainer.evaluate reads: the same figures as the run's final report.
    json_out = tmp_path / "best.json"
    assert evaluate_main(["--model", str(out / "best"), "--data", f"en={files['en_dev']}", f"de={files['de_dev']}",
                          "--json-out", str(json_out)]) == 0
    assert json.loads(json_out.read_text())["languages"] == report["languages"]


def test_selection_needs_periodic_evaluation(data_dir, tmp_path, capsys):
    files = tatoeba_pair_files(data_dir, tmp_path)
    config = tiny_config(tmp_path / "run", {"name": "pair", "head": "classifier"},
                         {"train": {"en": str(files["en_train"])}, "eval": {"en": str(files["en_dev"])}},
                         evaluation={"select": "primary"})
    assert run_finetune(tmp_path, config) == 1
    assert "evaluation.select picks the best of the periodic evaluations" in capsys.readouterr().err


def test_predict_ner_from_raw_sentences_agrees_with_evaluation(data_dir, tmp_path, capsys):
    """A tagger trained on Europarl English predicts the German test sentences given as plain text; its tags,
    scored against the gold ones, are what trainer.evaluate reports for the same sentences."""
    ner = data_dir / "ner"
    german = ner / "de-europarl.test.conll02"
    out = tmp_path / "run"
    config = tiny_config(out, {"name": "ner", "head": "tagging", "scheme": "BIO"},
                         {"train": {"en": entry(ner / "en-europarl.test.conll02", 24)}},
                         train={"total_steps": 4, "lr": 5e-3})
    assert run_finetune(tmp_path, config) == 0
    sentences = [s for s in read_conll(german, tag_scheme="BIO")][:12]
    # The sentences' own words (raw text is split by trainer.data.words, which may cut them differently).
    text = tmp_path / "sentences.jsonl"
    text.write_text("".join(json.dumps({"tokens": list(s.tokens)}) + "\n" for s in sentences), encoding="utf-8")
    predictions = tmp_path / "tags.jsonl"
    assert predict_main(["--model", str(out), "--input", str(text), "--lang", "de",
                         "--output", str(predictions)]) == 0
    rows = [json.loads(line) for line in predictions.read_text(encoding="utf-8").splitlines()]
    assert [row["tokens"] for row in rows] == [list(s.tokens) for s in sentences]
    assert all(e["text"] == row["text"][e["start"]:e["end"]] for row in rows for e in row["entities"])
    assert [row["id"] for row in rows] == [f"de-{n}" for n in range(1, 13)] and {r["lang"] for r in rows} == {"de"}
    labels = set(json.loads((out / "task.json").read_text())["labels"])
    assert all(len(row["tags"]) == len(row["tokens"]) and set(row["tags"]) <= labels for row in rows)
    json_out = tmp_path / "eval.json"
    assert evaluate_main(["--model", str(out), "--data", f"de={german}", "--limit", "12",
                          "--json-out", str(json_out)]) == 0
    evaluated = json.loads(json_out.read_text())["languages"]["de"]
    scores = entity_scores([list(s.tags) for s in sentences], [row["tags"] for row in rows])
    assert scores["f1"] == pytest.approx(evaluated["f1"]) and scores["precision"] == pytest.approx(
        evaluated["precision"])


def test_predict_qa_answers_are_spans_of_their_context(data_dir, tmp_path):
    """A start/end QA model trained on XQuAD English answers German XQuAD questions given as JSON lines; each
    answer is the context's text at the offsets it gives."""
    qa = data_dir / "qa" / "xquad"
    out = tmp_path / "run"
    config = tiny_config(out, {"name": "qa", "head": "start_end"}, {"train": {"en": entry(qa / "xquad.en.json", 16)}})
    assert run_finetune(tmp_path, config) == 0
    paragraphs = json.loads((qa / "xquad.de.json").read_text(encoding="utf-8"))["data"][0]["paragraphs"][:2]
    records = [{"id": q["id"], "question": q["question"], "context": p["context"]}
               for p in paragraphs for q in p["qas"][:3]]
    questions = tmp_path / "questions.jsonl"
    questions.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    answers = tmp_path / "answers.jsonl"
    assert predict_main(["--model", str(out), "--input", str(questions), "--lang", "de",
                         "--output", str(answers)]) == 0
    rows = [json.loads(line) for line in answers.read_text(encoding="utf-8").splitlines()]
    assert [row["id"] for row in rows] == [r["id"] for r in records]
    for row, record in zip(rows, records):
        assert row["answer"] and record["context"][row["start"]:row["end"]] == row["answer"]


def test_predict_names_a_malformed_line(data_dir, tmp_path, capsys):
    qa = data_dir / "qa" / "xquad"
    out = tmp_path / "run"
    config = tiny_config(out, {"name": "qa", "head": "start_end"}, {"train": {"en": entry(qa / "xquad.en.json", 8)}},
                         train={"total_steps": 1})
    assert run_finetune(tmp_path, config) == 0
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "Wer?", "context": "Anna."}\n{"question": "Wo?"}\n', encoding="utf-8")
    capsys.readouterr()
    assert predict_main(["--model", str(out), "--input", str(bad)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{bad}:2:" in err[0] and "'context'" in err[0], err
